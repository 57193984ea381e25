# The kinestream image: one image for every process of the system (topics, migrate,
# dataflow workers, API, webhook dispatcher); docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

# OpenCV (pulled in by MediaPipe) needs these shared libraries even headless.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 kinestream
WORKDIR /app

COPY constraints.txt pyproject.toml README.md ./
COPY kinestream ./kinestream
RUN pip install --no-cache-dir -c constraints.txt .

# The dataflow workers' recovery volume is mounted here; a new volume takes this owner.
RUN mkdir -p /var/lib/kinestream/recovery && chown kinestream /var/lib/kinestream/recovery

USER kinestream
CMD ["kinestream", "--help"]
