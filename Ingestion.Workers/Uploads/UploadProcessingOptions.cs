using System.ComponentModel.DataAnnotations;

namespace Ingestion.Workers.Uploads;

/// <summary>How upload jobs are processed. Bound from the <c>Processing</c> configuration section.</summary>
public sealed class UploadProcessingOptions
{
    public const string Section = "Processing";

    /// <summary>Upload jobs one worker process runs at the same time.</summary>
    [Range(1, 64)]
    public int ConcurrentJobs { get; set; } = 2;

    /// <summary>Records in one batch, the unit that commits together with its checkpoint.</summary>
    [Range(1, 10_000_000)]
    public int BatchRows { get; set; } = 100_000;

    /// <summary>
    /// A batch also ends after this long, so progress moves at least this often however
    /// slow the rows come.
    /// </summary>
    public TimeSpan BatchInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A batch also ends once this many of its rows are rejected (their raw records are held until commit).</summary>
    [Range(1, 1_000_000)]
    public int MaxRejectsPerBatch { get; set; } = 10_000;

    /// <summary>
    /// A batch also ends once its rejected records, as kept, add up to this many bytes: what a
    /// batch holds in memory until it commits is bounded in bytes, not only in records.
    /// </summary>
    [Range(64 * 1024, 1 << 30)]
    public int MaxRejectBytesPerBatch { get; set; } = 8 << 20;

    /// <summary>
    /// A rejected record is kept (in memory and in the rejects file) up to this many bytes; a
    /// longer one is cut there and marked with its whole length.
    /// </summary>
    [Range(256, 1 << 24)]
    public int RejectedRecordBytes { get; set; } = 4096;

    /// <summary>
    /// One message works on a job for at most this long, then hands the rest to a new
    /// message. RabbitMQ closes the channel of a message left unacknowledged longer than its
    /// consumer_timeout (30 minutes by default), so this must stay well below it.
    /// </summary>
    public TimeSpan SliceDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Largest record accepted; a longer one (an unclosed quote, usually) fails the job.</summary>
    [Range(1024, 1 << 30)]
    public int MaxRecordBytes { get; set; } = 16 << 20;

    /// <summary>Progress is published at most this often.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A reject ratio limit is judged only once this many rows have been read, or at the end of the file.</summary>
    [Range(1, int.MaxValue)]
    public int RatioMinimumRows { get; set; } = 1000;

    /// <summary>
    /// An object larger than this is loaded in chunks of at most about this size, cut at record boundaries,
    /// by as many workers as take them; a smaller one is one chunk, loaded exactly as before. The chunks share the file
    /// evenly, as many as a multiple of <see cref="ChunksInFlightPerJob"/> while that leaves each at least half this size
    /// (<c>Copy.ChunkSizing</c>), so that a file's last chunks end together. Large
    /// enough that a chunk's fixed costs (a ranged GET, a few transactions, a join step) vanish
    /// beside its rows; small enough that a file has several chunks per worker to share out (64 MiB
    /// is a good size: a 40 GB file is 640 chunks). Keyless and <c>reject</c> chunks load straight into the
    /// table in parallel: on the 2-core machine measured here 5,000,000 rows loaded 1.36 times as fast as
    /// <c>psql \copy</c> with two workers and 1.41 with one (two chunks in flight), against 1.16 in one
    /// stream (ARCHITECTURE.md, "Large files"). A job that fails or is cancelled halts its chunks where they are
    /// (<c>ChunkPlan.HaltAsync</c>). 1 TiB (1099511627776) loads every file as one stream.
    /// </summary>
    [Range(typeof(long), "1024", "1099511627776")]
    public long ChunkBytes { get; set; } = 64L << 20;

    /// <summary>
    /// Chunks of one job sent to the workers or staged at once; the next is sent as one is done
    /// (loaded into the table, or applied from its stage), so this also bounds a keyed file's
    /// stage tables. With the tenant's slots (<c>Limits:ConcurrentJobsPerTenant</c>) this is what
    /// one large file may take of the workers. Each chunk in flight is one PostgreSQL backend copying into the same table,
    /// so more than the database has cores for only adds contention: on a 2-core machine two workers loaded 5,000,000
    /// rows in 21.5-24.0 s with two in flight, in 26.3-27.6 s with four (ARCHITECTURE.md, "Large files").
    /// </summary>
    [Range(1, 1024)]
    public int ChunksInFlightPerJob { get; set; } = 2;

    /// <summary>
    /// Whether an <c>upsert</c> dataset's large file is loaded in chunks too. Off: the last line of a key must win,
    /// which COPY cannot decide, so such chunks are staged and applied in file order, every row ahead of its turn
    /// written twice by one backend; measured on 2 cores that is about half as fast as one stream. On a database
    /// with cores to spare the parsing and staging in parallel may still pay (ARCHITECTURE.md, "Large files").
    /// </summary>
    public bool ChunkUpserts { get; set; }

    /// <summary>
    /// Whether a Parquet file whose mapped columns fill more than one <see cref="ChunkBytes"/> (decompressed) is loaded in
    /// chunks of whole row groups. On by default; off while a fleet upgraded from a version before migration 0034 still
    /// runs old workers, which would read a Parquet chunk to the end of the file (ARCHITECTURE.md, "Large files").
    /// </summary>
    public bool ChunkParquet { get; set; } = true;

    /// <summary>
    /// Whether a compressed text file (gzip, zstd) larger than <see cref="ChunkBytes"/> (compressed) is loaded in chunks cut in
    /// its decompressed text, each chunk decompressing the object from its start and skipping to its own part; chunks after
    /// the first are at least as long as the text before them, so the skipping costs less than decompressing the file twice
    /// (<c>TextChunkScan</c>). On by default; off while a fleet upgraded from a version before migration 0037 still runs old
    /// workers, which would read such a chunk's byte range of the compressed object as text (ARCHITECTURE.md, "Compressed
    /// files in chunks").
    /// </summary>
    public bool ChunkCompressed { get; set; } = true;

    /// <summary>
    /// A chunk sent whose row has not moved for this long (no batch committed, no attempt begun) has
    /// its message sent again by the job's next turn, in case it was lost; a chunk that is loading
    /// moves its row at every batch. Chunks sent for an earlier attempt are sent again at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ChunkResendAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Reads of a Parquet file smaller than a column's read (1 MiB: its footer, the column chunks of a small row group,
    /// the end of a chunk) are served from a buffer of this size filled by one ranged GET, so that the mapped columns of a
    /// row group of a few MiB are fetched by one GET rather than one each; a column's full 1 MiB reads are GETs of exactly
    /// their range.
    /// </summary>
    [Range(64 * 1024, 64 << 20)]
    public int ParquetReadAheadBytes { get; set; } = 1 << 20;

    /// <summary>
    /// The largest decompressed size (from the footer) of a mapped Parquet column chunk a worker reads, or 0 (the
    /// default) for no limit. Arrow sizes its buffers from page headers and dictionary sizes, so a chunk's decompressed
    /// size bounds what one column may make the worker hold (all of it when the chunk is one page, as Parquet.Net
    /// writes). A larger one fails the job at once (<c>column_chunk_too_large</c>), before any page is read. Off by
    /// default: the footer does not say how the chunk is paged, and valid files with small pages have chunks of
    /// hundreds of MiB (pyarrow's million-row groups of a 300-byte text column are 315 MiB), which load in a few MB.
    /// Set it where files come from writers that make one page per chunk, or from untrusted ones. It is judged when a job
    /// starts: a job already loading reads its file to the end if the limit is lowered meanwhile.
    /// </summary>
    [Range(0, 2L << 30)]
    public long ParquetMaxColumnChunkBytes { get; set; } = Parquet.ParquetRecords.DefaultMaxColumnChunkBytes;
}
