# The image the pipeline's jobs and the in-cluster uploader run in.
#   docker build -t mlopsbench:0.1.0 .
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/mlopsbench
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY notebooks ./notebooks
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --uid 1000 --create-home mlopsbench

# Jobs run unprivileged; the marshal volume is mounted at /marshal by the runner.
USER 1000
ENV MPLBACKEND=Agg PYTHONUNBUFFERED=1
WORKDIR /home/mlopsbench
ENTRYPOINT ["python"]
