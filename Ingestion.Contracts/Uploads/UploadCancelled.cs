namespace Ingestion.Contracts.Uploads;

/// <summary>
/// A worker stopped a cancelled job at a batch boundary: what was committed stays, the rest
/// of the object was not read. <paramref name="Line"/> is the last line loaded or rejected.
/// </summary>
public sealed record UploadCancelled(
    Guid JobId,
    long RowsLoaded,
    long RowsRejected,
    long BytesRead,
    long Line,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;
