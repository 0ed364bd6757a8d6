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
    public void Should_cut_as_few_chunks_as_fit_the_work_in_rounds_of_those_in_flight(long work, int inFlight, long chunks)
    {
        Assert.That(new ChunkSizing(Chunk, inFlight).Count(work), Is.EqualTo(chunks));
    }

    [Test]
    public void Should_end_shares_evenly_without_overflowing_on_a_very_large_file()
    {
        const long work = long.MaxValue / 3;
        Assert.That(ChunkSizing.ShareEnd(work, 1, 3), Is.EqualTo(work / 3));
        Assert.That(ChunkSizing.ShareEnd(work, 2, 3), Is.EqualTo(work / 3 * 2 + work % 3 * 2 / 3));
        Assert.That(ChunkSizing.ShareEnd(work, 3, 3), Is.EqualTo(work));
        Assert.That(ChunkSizing.ShareEnd(100, 1, 3), Is.EqualTo(33));
    }
}
