"""Phase machines, one per movement, behind one interface."""
