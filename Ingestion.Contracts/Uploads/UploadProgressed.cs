namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Where a running upload job stands: counts as of its last committed batch.
/// Published at most a few times a second while the job runs.
/// </summary>
public sealed record UploadProgressed(
    Guid JobId,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    long BytesTotal,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;
