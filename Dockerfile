# The image the pipeline's jobs and the in-cluster uploader run in.
#   docker build -t mlopsbench:0.1.0 .
# Debian's python3.11, as install.sh's .venv and the locally built image: steps compared across
# backends should run on one interpreter build (each step prints it; the report checks).
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv iproute2 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

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
