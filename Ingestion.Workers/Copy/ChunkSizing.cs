namespace Ingestion.Workers.Copy;

/// <summary>
/// How a file's work is shared out in chunks: into as few chunks as keep each within about <see cref="ChunkBytes"/>,
/// that number rounded up to a multiple of the chunks a job has in flight (<see cref="InFlight"/>), all of even size.
/// A job's chunks load in turn, <see cref="InFlight"/> at a time, so its last round decides when it ends: cut at
/// <see cref="ChunkBytes"/> each, a file of 5.5 chunks' work ended with a full chunk loading alone beside a half one, and
/// on two cores the bench's 5,000,000-row Parquet file (six chunks of whole row groups, the last 500,000 rows against
/// 900,000) spent its last 2.5 s of about 17 s on one chunk (ARCHITECTURE.md, "Large files"). Shared evenly, the last
/// round's chunks end together.
/// </summary>
/// <param name="ChunkBytes">The most work a chunk should hold (<see cref="Uploads.UploadProcessingOptions.ChunkBytes"/>).</param>
/// <param name="InFlight">A job's chunks loading at once (<see cref="Uploads.UploadProcessingOptions.ChunksInFlightPerJob"/>).</param>
internal readonly record struct ChunkSizing(long ChunkBytes, int InFlight)
{
    /// <summary>How many chunks <paramref name="work"/> is cut into: 1 when it fits one chunk.</summary>
    public long Count(long work)
    {
        var atMost = work <= ChunkBytes ? 1 : (work - 1) / ChunkBytes + 1;
        var inFlight = Math.Max(1, InFlight);
        return atMost == 1 ? 1 : (atMost + inFlight - 1) / inFlight * inFlight;
    }

    /// <summary>Where the <paramref name="k"/>-th of <paramref name="chunks"/> even shares of <paramref name="work"/> ends.</summary>
    public static long ShareEnd(long work, long k, long chunks) => (long)((Int128)work * k / chunks);
}
