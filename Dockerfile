# One image recipe for both hosts: docker build --build-arg PROJECT=Ingestion.Api (or Ingestion.Workers).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG PROJECT
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY Ingestion.Contracts/ Ingestion.Contracts/
COPY Ingestion.Platform/ Ingestion.Platform/
COPY Ingestion.Api/ Ingestion.Api/
COPY Ingestion.Workers/ Ingestion.Workers/
RUN dotnet publish "$PROJECT/$PROJECT.csproj" -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
ARG PROJECT
# TrueType fonts for the statement PDFs the workers render.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app .
# 8080: the API (the workers serve nothing there but /health/live); 9090: health checks and
# /metrics, for the orchestrator and Prometheus inside the network, never published.
# MALLOC_ARENA_MAX: glibc's arenas capped from the process's first thread (a worker caps them itself at start, after
# the runtime's own threads have theirs; see Ingestion.Workers/Limits/NativeHeap.cs).
# DOTNET_JitHostMaxSlabCache: the JIT's freed working memory the runtime keeps for its next compilations, 1 MiB
# rather than its 16 MiB default, which a worker filled while it compiled its first jobs and kept (read by the runtime
# at start: only the environment can set it; see NativeHeap.cs).
ENV PROJECT=${PROJECT} \
    MALLOC_ARENA_MAX=2 \
    DOTNET_JitHostMaxSlabCache=0x100000 \
    ASPNETCORE_URLS=http://+:8080 \
    Management__Urls=http://+:9090 \
    Logging__Json=true
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fs http://localhost:9090/health/ready || exit 1
ENTRYPOINT ["sh", "-c", "exec dotnet \"$PROJECT.dll\""]
