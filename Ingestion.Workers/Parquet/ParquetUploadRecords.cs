using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// A Parquet file's rows for the batch loop. A position is the count of rows done in the file (offset and line alike): it
/// names exactly one row group and row in it, since the row groups' row counts are in the footer of the one version of the
/// object the job reads (pinned to its ETag), and it grows with every row, so the checkpoint's fence holds.
/// </summary>
internal sealed class ParquetUploadRecords(ParquetRecords records, RangedObjectStream stream, CancellationToken cancellationToken)
    : IUploadRecords
{
    private byte[]? _raw;
    private long _done;
    private long? _end;

    /// <summary>The dataset's columns the file feeds, in COPY order.</summary>
    public HeaderMap Map => records.Map;

    public bool Read()
    {
        _raw = null;
        // The first row of a batch reads the mapped columns' next pages when their buffers are spent (ranged GETs), as a
        // CSV's records block on their stream's reads.
        cancellationToken.ThrowIfCancellationRequested();
        if (_done >= _end || !records.Read())
        {
            return false;
        }

        _done = records.RowNumber;
        return true;
    }

    /// <summary>The row's number in the file, from 1: what its reject is filed under (the reason names its row group and row).</summary>
    public long Line => records.RowNumber;

    public RecordPosition End => new(records.RowNumber, records.RowNumber);

    /// <summary>The row's mapped values as JSON: a Parquet row has no bytes of its own to show.</summary>
    public ReadOnlySpan<byte> Raw => _raw ??= records.Record();

    /// <summary>The object's bytes up to the end of the row group being read: how far through the object the load is.</summary>
    public long? ObjectBytesRead => records.ObjectBytesRead;

    /// <summary>
    /// Starts after <paramref name="rowsDone"/> rows of the file (a checkpoint's position) and, for a chunk, ends after
    /// <paramref name="endRows"/> (a row group's start, where the next chunk begins).
    /// </summary>
    public void Seek(long rowsDone, long? endRows = null)
    {
        records.Seek(records.PositionAfter(rowsDone));
        (_done, _end) = (rowsDone, endRows);
    }

    /// <summary>See <see cref="ParquetRecords.CutAfter"/>.</summary>
    public long? CutAfter(long rows, ChunkSizing sizing) => records.CutAfter(rows, sizing);

    public long TotalRows => records.TotalRows;

    public RowProblem? Check() => records.Check();

    public void Write(BinaryCopyRows rows) => records.Write(rows);

    public long IntegerAt(int slot) => records.Values.Integers[slot];

    public void Dispose()
    {
        records.DisposeAsync().AsTask().GetAwaiter().GetResult();
        stream.Dispose();
    }
}
