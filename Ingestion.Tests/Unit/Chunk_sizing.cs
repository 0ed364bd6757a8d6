using Ingestion.Workers.Copy;

namespace Ingestion.Tests.Unit;

/// <summary>How many chunks a file's work is shared into: none larger than a chunk, a multiple of those in flight.</summary>
public sealed class Chunk_sizing
{
    private const long Chunk = 64L << 20;

    [TestCase(0L, 2, 1L)]
    [TestCase(Chunk, 2, 1L)]
    [TestCase(Chunk + 1, 2, 2L)]
    [TestCase(Chunk * 11 / 2, 2, 6L)]
    [TestCase(Chunk * 6 + 1, 2, 8L)]
    [TestCase(Chunk * 6 + 1, 1, 7L)]
    [TestCase(Chunk * 6 + 1, 4, 8L)]
    [TestCase(Chunk * 2 + 1, 4, 4L)]
    [TestCase(Chunk * 2 + 1, 0, 3L)]
    [TestCase(Chunk + 1, 64, 2L)]
    [TestCase(Chunk * 3 / 2, 4, 2L)]
    [TestCase(Chunk * 5, 8, 8L)]
    [TestCase(Chunk * 3, 8, 3L)]
    public void Should_cut_as_few_chunks_as_fit_the_work_in_rounds_of_those_in_flight_but_none_under_half_a_chunk(long work,
        int inFlight, long chunks)
    {
        Assert.That(new ChunkSizing(Chunk, inFlight).Count(work), Is.EqualTo(chunks));
    }

    [Test]
    public void Should_end_shares_evenly_without_overflowing_on_a_very_large_file()
    {
        // work * k passes long.MaxValue: a product in longs would wrap.
        const long work = long.MaxValue / 2;
        Assert.That(ChunkSizing.ShareEnd(work, 3, 4), Is.EqualTo(work / 4 * 3 + work % 4 * 3 / 4));
        Assert.That(ChunkSizing.ShareEnd(1L << 40, (1L << 30) - 1, 1L << 30), Is.EqualTo((1L << 40) - (1L << 10)));
        Assert.That(ChunkSizing.ShareEnd(work, 4, 4), Is.EqualTo(work));
        Assert.That(ChunkSizing.ShareEnd(100, 1, 3), Is.EqualTo(33));
    }

    [Test]
    public void Should_cut_units_at_the_starts_nearest_each_share_s_end()
    {
        // 50 row groups of 100 rows and 10 units of work each: 500 units in 6 shares of 83.3, cut at the nearest starts.
        var work = Enumerable.Repeat(10L, 50).ToArray();
        var starts = Enumerable.Range(0, 51).Select(g => g * 100L).ToArray();

        var cuts = new ChunkSizing(90, 2).Cuts(work, starts);

        Assert.That(cuts, Is.EqualTo(new long[] { 800, 1700, 2500, 3300, 4200 }), "groups 8, 9, 8, 8, 9 and 8: none a group more than its share, the last two together");
        Assert.That(new ChunkSizing(90, 1).Cuts(work, starts), Has.Length.EqualTo(5), "six chunks: five cuts");
        Assert.That(new ChunkSizing(500, 2).Cuts(work, starts), Is.Empty, "the whole file within one chunk");
    }

    [Test]
    public void Should_put_units_without_work_or_rows_with_the_chunk_after_them()
    {
        // Units of a, 0, a, 0, a work and 4, 0, 4, 0, 4 rows (an empty row group whose columns report no bytes).
        Assert.That(new ChunkSizing(1, 1).Cuts([7, 0, 7, 0, 7], [0, 4, 4, 8, 8, 12]), Is.EqualTo(new long[] { 4, 8 }));
        // An empty first unit starts no chunk of no rows; empty last units make no chunk of no rows.
        Assert.That(new ChunkSizing(1, 1).Cuts([0, 7, 7], [0, 0, 4, 8]), Is.EqualTo(new long[] { 4 }));
        Assert.That(new ChunkSizing(1, 1).Cuts([7, 7, 0, 0], [0, 4, 8, 8, 8]), Is.EqualTo(new long[] { 4 }));
        // A unit with rows but no work (a crafted footer) is no chunk of its own, in the middle or at either end.
        Assert.That(new ChunkSizing(7, 1).Cuts([10, 0, 10], [0, 5, 10, 15]), Is.EqualTo(new long[] { 5 }));
        Assert.That(new ChunkSizing(1, 1).Cuts([0, 10, 10], [0, 5, 10, 15]), Is.EqualTo(new long[] { 10 }));
        Assert.That(new ChunkSizing(1, 1).Cuts([10, 10, 0], [0, 5, 10, 15]), Is.EqualTo(new long[] { 5 }));
    }

    [Test]
    public void Should_cut_at_the_earlier_start_when_a_share_ends_halfway_between_two()
    {
        // Thirty units in two shares: the share ends at 15, as far from the start at 10 as from the one at 20.
        Assert.That(new ChunkSizing(15, 1).Cuts([10, 10, 10], [0, 1, 2, 3]), Is.EqualTo(new long[] { 1 }));
    }

    [Test]
    public void Should_cut_a_file_of_very_many_small_chunks_without_walking_each_share()
    {
        // A footer may claim anything: 2^60 bytes after an empty unit, in chunks of 1 KiB, is 2^50 shares. Walked share
        // by share this would not end; walked unit by unit it is three steps.
        var crafted = new ChunkSizing(1024, 1).Cuts([10, 0, 1L << 60], [0, 5, 5, 10]);
        Assert.That(crafted, Is.EqualTo(new long[] { 5 }));

        var units = Enumerable.Repeat(1L << 40, 1000).ToArray();
        var starts = Enumerable.Range(0, 1001).Select(g => (long)g).ToArray();
        Assert.That(new ChunkSizing(1024, 2).Cuts(units, starts), Is.EqualTo(starts[1..^1]), "every unit a chunk of its own");
    }
}
