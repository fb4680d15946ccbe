# The parcelwatch image: `parcelwatch worker` by default; any other command with args.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY parcelwatch ./parcelwatch
RUN pip install --no-cache-dir . \
 && useradd --uid 10001 --create-home parcelwatch \
 && mkdir -p /data && chown parcelwatch /data
USER 10001
ENV PARCELWATCH_DATA_DIR=/data \
    PARCELWATCH_LOG_FORMAT=json \
    PARCELWATCH_METRICS_PORT=9108
VOLUME /data
EXPOSE 9108
ENTRYPOINT ["parcelwatch"]
CMD ["worker"]
