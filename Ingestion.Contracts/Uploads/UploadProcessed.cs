namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Every row of the object is either in the dataset's table or in the rejects file.
/// </summary>
/// <param name="RejectsKey">S3 key of the rejects CSV, when any row was rejected.</param>
public sealed record UploadProcessed(
    Guid JobId,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    string? RejectsKey,
    DateTimeOffset CompletedAt,
    int Attempt = 0) : IAttemptMessage;
