namespace Ingestion.Contracts.Uploads;

/// <summary>A worker picked the job up and is reading its object.</summary>
public sealed record UploadProcessingStarted(
    Guid JobId,
    long BytesTotal,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;
