namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Every row of the object is either in the dataset's table or in the rejects file.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="RowsLoaded">Rows now in the table.</param>
/// <param name="RowsRejected">Rows in the rejects file.</param>
/// <param name="BytesRead">Bytes of the object (compressed, if it is) read: all of it.</param>
/// <param name="RejectsKey">S3 key of the rejects CSV, when any row was rejected.</param>
/// <param name="CompletedAt">When the last batch committed.</param>
/// <param name="Attempt">The attempt that finished.</param>
/// <param name="UncompressedBytesRead">A compressed object only: bytes of its decompressed text read; null otherwise.</param>
public sealed record UploadProcessed(
    Guid JobId,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    string? RejectsKey,
    DateTimeOffset CompletedAt,
    int Attempt = 0,
    long? UncompressedBytesRead = null) : IAttemptMessage;
