namespace Ingestion.Contracts.Uploads;

/// <summary>
/// A worker stopped a cancelled job at a batch boundary: what was committed stays, the rest
/// of the object was not read. <paramref name="Line"/> is the last line loaded or rejected.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="RowsLoaded">Rows committed to the table before it stopped.</param>
/// <param name="RowsRejected">Rows written to the rejects file before it stopped.</param>
/// <param name="BytesRead">Bytes of the object (compressed, if it is) read up to the last committed batch.</param>
/// <param name="Line">The last line loaded or rejected.</param>
/// <param name="At">When it stopped.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
/// <param name="UncompressedBytesRead">A compressed object only: bytes of its decompressed text read; null otherwise.</param>
public sealed record UploadCancelled(
    Guid JobId,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    long Line,
    DateTimeOffset At,
    int Attempt = 0,
    long? UncompressedBytesRead = null) : IAttemptMessage;
