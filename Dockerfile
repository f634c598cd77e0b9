# Builds the switchboard binary and runs `switchboard serve` against the database named by DATABASE_URL.
FROM swift:6.0-jammy AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY sql ./sql
COPY Tests ./Tests
RUN swift build -c release --product switchboard \
    && mkdir /out && cp "$(swift build -c release --show-bin-path)/switchboard" /out/ \
    && cp -R "$(swift build -c release --show-bin-path)"/*.resources /out/

FROM swift:6.0-jammy-slim
WORKDIR /app
COPY --from=build /out/ /app/
ENV PATH="/app:${PATH}"
EXPOSE 8080
CMD ["switchboard", "serve", "--host", "0.0.0.0", "--port", "8080"]
