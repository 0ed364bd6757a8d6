namespace Ingestion.Workers.Copy;

/// <summary>
/// How a file's work is shared out in chunks: into as few chunks as keep each within about <see cref="ChunkBytes"/>,
/// that number rounded up to a multiple of the chunks a job has in flight (<see cref="InFlight"/>) while that leaves
/// chunks of at least half <see cref="ChunkBytes"/> (<see cref="Count"/>), all of even size.
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
    /// <summary>
    /// How many chunks <paramref name="work"/> is cut into: 1 when it fits one chunk. Rounded up to a multiple of
    /// <see cref="InFlight"/> only while that leaves shares of at least half <see cref="ChunkBytes"/>: with many in flight,
    /// a file just over one chunk would otherwise be cut into crumbs whose fixed costs (a GET, a few transactions) no longer
    /// vanish beside their rows. With two in flight (the default) the rounding always applies.
    /// </summary>
    public long Count(long work)
    {
        var atMost = work <= ChunkBytes ? 1 : (work - 1) / ChunkBytes + 1;
        var inFlight = Math.Max(1, InFlight);
        var rounded = (atMost + inFlight - 1) / inFlight * inFlight;
        return atMost == 1 || rounded * (Int128)ChunkBytes > 2 * (Int128)work ? atMost : rounded;
    }

    /// <summary>Where the <paramref name="k"/>-th of <paramref name="chunks"/> even shares of <paramref name="work"/> ends.</summary>
    public static long ShareEnd(long work, long k, long chunks) => (long)((Int128)work * k / chunks);

    /// <summary>
    /// Where chunks after the first start in a file of units that cannot be cut (a Parquet file's row groups), in order: a
    /// unit's <paramref name="work"/> and the row it starts at (<paramref name="starts"/>, one more: the file's row count).
    /// A candidate is a unit's start with rows and work before and after it (of starts with no work or no rows between them,
    /// the first: an empty unit goes with the chunk after it); it is a cut when some share's end is nearer to it than to the
    /// candidates beside it (on a tie, the earlier), so each cut is within half a unit of a share's end. Found by walking
    /// the candidates, not the shares, so very many small chunks cost no more. The sums must not overflow a long (the
    /// caller bounds them).
    /// </summary>
    public long[] Cuts(IReadOnlyList<long> work, IReadOnlyList<long> starts)
    {
        var total = work.Sum();
        var chunks = Count(total);
        var rows = starts[^1];
        var candidates = new List<(long Before, long Row)>();
        var before = 0L;
        for (var unit = 1; unit < work.Count; unit++)
        {
            before += work[unit - 1];
            var row = starts[unit];
            if (row > 0 && row < rows && before > 0 && before < total
                && (candidates.Count == 0 || (before > candidates[^1].Before && row > candidates[^1].Row)))
            {
                candidates.Add((before, row));
            }
        }

        var cuts = new List<long>();
        for (var i = 0; chunks > 1 && i < candidates.Count; i++)
        {
            // The share ends this start is nearest: past halfway from the previous candidate, up to halfway to the next.
            var after = i == 0 ? -1 : Halfway(candidates[i - 1].Before, candidates[i].Before);
            var upTo = i == candidates.Count - 1 ? long.MaxValue : Halfway(candidates[i].Before, candidates[i + 1].Before);
            // The first share's end past `after`: ShareEnd(k) > after from k = ceil((after + 1) * chunks / total).
            var k = (long)Int128.Max(1, (((Int128)after + 1) * chunks + total - 1) / total);
            if (k < chunks && ShareEnd(total, k, chunks) <= upTo)
            {
                cuts.Add(candidates[i].Row);
            }
        }

        return [.. cuts];
    }

    /// <summary>Halfway from <paramref name="low"/> to <paramref name="high"/> (0 ≤ low ≤ high), rounded down, never overflowing.</summary>
    private static long Halfway(long low, long high) => low + (high - low) / 2;
}
