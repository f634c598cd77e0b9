# Builds the switchboard binary in the Swift image and runs it, as a non-root user, in the matching slim image.
# The Swift version must be at least the highest swift-tools-version among the resolved dependencies
# (Hummingbird 2.28 declares 6.2); `scripts/check-container` checks it in CI.
FROM swift:6.3-noble AS build
WORKDIR /src
# Dependencies first, so that a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY sql ./sql
COPY Tests ./Tests
RUN swift build -c release --product switchboard \
    && mkdir /out \
    && cp "$(swift build -c release --show-bin-path)/switchboard" /out/ \
    && cp -R "$(swift build -c release --show-bin-path)"/*.resources /out/

FROM swift:6.3-noble-slim
RUN useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin switchboard
WORKDIR /app
# The binary and its resource bundles (migrations, the API description, the console's templates and files)
# side by side, where the binary looks for them.
COPY --from=build --chown=root:root /out/ /app/
USER switchboard
ENV PATH="/app:${PATH}"
EXPOSE 8080
CMD ["switchboard", "serve", "--host", "0.0.0.0", "--port", "8080"]
