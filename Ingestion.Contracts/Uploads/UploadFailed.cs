namespace Ingestion.Contracts.Uploads;

/// <summary>
/// The job stopped without loading its whole object. Batches committed before the
/// failure stay committed, and a <see cref="Jobs.RetryJob"/> resumes after them.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="Code">A stable, machine-readable cause, e.g. <c>missing_column</c> or <c>reject_limit</c>.</param>
/// <param name="Message">What went wrong, for a person: names the line and column where there is one.</param>
/// <param name="RowsLoaded">Rows committed to the table before the failure.</param>
/// <param name="RowsRejected">Rows written to the rejects file before the failure.</param>
/// <param name="BytesRead">Bytes of the object (compressed, if it is) read up to the last committed batch.</param>
/// <param name="RejectsKey">S3 key of the rejects CSV, when any row was rejected.</param>
/// <param name="FailedAt">When the job failed.</param>
/// <param name="Attempt">The attempt that failed.</param>
/// <param name="UncompressedBytesRead">A compressed object only: bytes of its decompressed text read; null otherwise.</param>
public sealed record UploadFailed(
    Guid JobId,
    string Code,
    string Message,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    string? RejectsKey,
    DateTimeOffset FailedAt,
    int Attempt = 0,
    long? UncompressedBytesRead = null) : IAttemptMessage;
