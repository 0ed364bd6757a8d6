using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Ingestion.Workers.Limits;
using ParquetSharp;
using ParquetSharp.IO;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// A Parquet file opened by Apache Arrow's reader (ParquetSharp) over the job's seekable stream, so that its column chunks
/// are read page by page through the same ranged GETs as the footer. Each column reader reads its chunk through a buffer
/// of its own of <see cref="ColumnReadBytes"/> (Arrow's buffered stream), rather than the whole chunk at once, which is
/// Arrow's default and would hold a row group's columns in memory. Its buffers come from the C library's allocator rather than Arrow's
/// default (mimalloc), which kept about 16 MB of freed pages of a 1,000,000-row file resident after reading it; what Arrow
/// allocates from its default pool (the footer it reads) does too, the worker setting that pool at start (<see cref="NativeHeap"/>).
/// <para>
/// Arrow reports a failed read of the stream as its own <see cref="ParquetException"/> with the message only, which would
/// blame the file for what the network did: the stream's failures are recorded here, and <see cref="RethrowReadFailure"/>
/// throws the original one (which fails the attempt, to be retried) wherever a native call fails.
/// </para>
/// </summary>
internal sealed partial class NativeParquetFile : IDisposable
{
    private readonly FailureRecordingStream _input;
    private readonly ManagedRandomAccessFile _file;
    private readonly ReaderProperties _properties;

    private NativeParquetFile(FailureRecordingStream input, ManagedRandomAccessFile file, ReaderProperties properties, ParquetFileReader reader)
    {
        _input = input;
        _file = file;
        _properties = properties;
        Reader = reader;
    }

    /// <summary>
    /// What each mapped column reads of its chunk at once, and buffers: the size of a page as Arrow, Spark and DuckDB write
    /// them (a larger page is read whole, as it must be to decompress it). A GET per column per MiB is a few per second
    /// of a load; a larger buffer would save few of them at a MiB per column and job.
    /// </summary>
    public const int ColumnReadBytes = 1 << 20;

    public ParquetFileReader Reader { get; }

    /// <summary>Opens the file (Arrow reads its footer), or throws what the stream or Arrow threw.</summary>
    public static NativeParquetFile Open(Stream stream)
    {
        var input = new FailureRecordingStream(stream);
        var file = new ManagedRandomAccessFile(input, leaveOpen: true);
        var properties = ReaderProperties.WithMemoryPool(MemoryPool.SystemMemoryPool());
        try
        {
            properties.EnableBufferedStream();
            properties.BufferSize = ColumnReadBytes;
            return new NativeParquetFile(input, file, properties, new ParquetFileReader(file, properties));
        }
        catch
        {
            properties.Dispose();
            file.Dispose();
            if (input.Failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            throw;
        }
    }

    /// <summary>Throws the stream's failure when a native call failed because of it (the object could not be read).</summary>
    public void RethrowReadFailure()
    {
        if (_input.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    public void Dispose()
    {
        Reader.Dispose();
        _properties.Dispose();
        _file.Dispose();
        NativeHeap.ReturnFreedMemory(NativeHeap.TrimEveryBytes);
    }

    /// <summary>How long after one collection of <see cref="CollectManagedHeap"/> another may run, process-wide.</summary>
    public const long CollectEveryMilliseconds = 1_000;

    private static long _lastCollect = -CollectEveryMilliseconds;

    /// <summary>
    /// Collects the managed heap whole, compacted, and gives its free memory back to the system, after a row group's first
    /// batch (<see cref="ParquetRecords"/>: its columns' first reads, a burst of them) and when records that read pages
    /// close (a chunk's or a slice's end: <see cref="ParquetRecords.DisposeAsync"/>), at most every
    /// <see cref="CollectEveryMilliseconds"/> process-wide. What a chunk allocates for longer than a few young collections
    /// (its footers, readers and batches) reached the oldest generation, where it waited as garbage for a background
    /// collection that came rarely, and whose budget grew with it: over the bench's 5,000,000-row Parquet file (6 chunks)
    /// that generation grew from 8 to 27 MB and the heap stayed 54 MB committed, and more over 20,000,000 rows. Collected
    /// at each chunk's end only, the heap still grew by about 16 MB over each chunk (20 to 36 MB resident, smaps every
    /// 0.15 s); collected at row groups too, it stays at 17-20 MB, and the worker's peak of <c>make bench-ingest
    /// ROWS=5000000 FORMAT=parquet</c> went from 212 to 200-204 MB, its load as fast (same-day runs, one after the other).
    /// The collection is blocking: every job the worker runs pauses with it, up to about 25 ms for a heap that size, so
    /// at most about 2.5 % of the time whatever the row groups' number (a larger heap pauses longer).
    /// <see cref="GCCollectionMode.Aggressive"/> rather than a forced collection, which kept the freed memory committed (a
    /// forced gen2 collection at each chunk's end did not lower the peak). A chunk's closing collection
    /// (<paramref name="owedIfTooSoon"/>) that comes too soon runs later (<see cref="Owe"/>).
    /// </summary>
    public static void CollectManagedHeap(bool owedIfTooSoon = false)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastCollect);
        if (now - last < CollectEveryMilliseconds || Interlocked.CompareExchange(ref _lastCollect, now, last) != last)
        {
            if (owedIfTooSoon)
            {
                Owe(now);
            }

            return;
        }

        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    private static int _owing;
    private static long _owedSince;

    /// <summary>
    /// A chunk's closing collection that came too soon after another (a row group's, a moment before) runs once the
    /// spacing allows, unless another collection has run since: otherwise what the chunk left would stay until the
    /// runtime's next collection of its own, which on an idle worker may be long in coming. One at a time.
    /// </summary>
    private static void Owe(long at)
    {
        // The latest close owed is what the collection must come after.
        long owed;
        while ((owed = Interlocked.Read(ref _owedSince)) < at && Interlocked.CompareExchange(ref _owedSince, at, owed) != owed)
        {
        }

        if (Interlocked.Exchange(ref _owing, 1) == 1)
        {
            return;
        }

        _ = Task.Delay(TimeSpan.FromMilliseconds(CollectEveryMilliseconds)).ContinueWith(_ =>
        {
            Volatile.Write(ref _owing, 0);
            // Equal: a collection that started in the close's clock tick, before the close (the clock is coarse).
            if (Interlocked.Read(ref _lastCollect) <= Interlocked.Read(ref _owedSince))
            {
                CollectManagedHeap(owedIfTooSoon: true);
            }
        }, TaskScheduler.Default);
    }

    /// <summary>The job's stream, remembering the first exception a read or seek of it threw (and throwing it on).</summary>
    private sealed class FailureRecordingStream(Stream inner) : Stream
    {
        public Exception? Failure { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => Recorded(() => inner.Position = value);
        }

        public override int Read(byte[] buffer, int offset, int count) => Recorded(() => inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (Exception e)
            {
                Failure ??= e;
                throw;
            }
        }

        public override long Seek(long offset, SeekOrigin origin) => Recorded(() => inner.Seek(offset, origin));

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private T Recorded<T>(Func<T> read)
        {
            try
            {
                return read();
            }
            catch (Exception e)
            {
                Failure ??= e;
                throw;
            }
        }
    }
}
