namespace Ingestion.Contracts.Uploads;

/// <summary>A worker picked the job up and is reading its object.</summary>
/// <param name="JobId">The job.</param>
/// <param name="BytesTotal">Size of the object.</param>
/// <param name="StartedAt">When the worker started.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record UploadProcessingStarted(
    Guid JobId,
    long BytesTotal,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;
