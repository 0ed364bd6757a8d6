namespace Ingestion.Contracts.Uploads;

/// <summary>
/// Where a running upload job stands: counts as of its last committed batch.
/// Published at most a few times a second while the job runs.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="RowsLoaded">Rows committed to the table.</param>
/// <param name="RowsRejected">Rows written to the rejects file.</param>
/// <param name="BytesRead">Bytes of the object (compressed, if it is) read up to the last committed batch.</param>
/// <param name="BytesTotal">Size of the object.</param>
/// <param name="At">When the last batch committed.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
/// <param name="UncompressedBytesRead">A compressed object only: bytes of its decompressed text read; null otherwise.</param>
public sealed record UploadProgressed(
    Guid JobId,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    long BytesTotal,
    DateTimeOffset At,
    int Attempt = 0,
    long? UncompressedBytesRead = null) : IAttemptMessage;
