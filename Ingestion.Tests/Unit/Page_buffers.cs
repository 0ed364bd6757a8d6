using System.IO.Pipelines;
using Ingestion.Api.Reads;

namespace Ingestion.Tests.Unit;

/// <summary>
/// A JSON page is held until complete up to a limit, then streams: once spilled, every send must reach
/// the response, or the rest of a page of wide rows piles up in the response pipe.
/// </summary>
public sealed class Page_buffers
{
    [Test]
    public async Task Should_hold_a_page_under_its_limit_until_it_is_complete()
    {
        var pipe = new Pipe();
        using var page = new PageBuffer(pipe.Writer, 64);
        Write(page, 40);

        await page.SendAsync(complete: false, CancellationToken.None);
        Assert.That(Readable(pipe), Is.Zero);

        await page.SendAsync(complete: true, CancellationToken.None);
        Assert.That(Readable(pipe), Is.EqualTo(40));
    }

    [Test]
    public async Task Should_send_what_is_written_after_the_page_spilled_at_every_send()
    {
        var pipe = new Pipe();
        using var page = new PageBuffer(pipe.Writer, 64);
        Write(page, 100);
        await page.SendAsync(complete: false, CancellationToken.None);
        Assert.That(page.Spilled, Is.True);
        Assert.That(Readable(pipe), Is.EqualTo(100));

        Write(page, 30);
        await page.SendAsync(complete: false, CancellationToken.None);
        Assert.That(Readable(pipe), Is.EqualTo(130), "flushed to the response, not left in its pipe");

        Write(page, 5);
        await page.SendAsync(complete: true, CancellationToken.None);
        Assert.That(Readable(pipe), Is.EqualTo(135));
    }

    [Test]
    public async Task Should_send_exactly_the_bytes_written_across_its_growths()
    {
        // Pooled arrays come back dirty (another request's rows): fill the pool's 16 KiB and larger arrays with them first.
        foreach (var size in new[] { 16 * 1024, 32 * 1024, 64 * 1024 })
        {
            var dirty = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
            dirty.AsSpan().Fill((byte)'!');
            System.Buffers.ArrayPool<byte>.Shared.Return(dirty);
        }

        // A page of 50,000 bytes in pieces of 7 to 3,000, written and held under a 100,000-byte limit: it grows past
        // 16 KiB twice, and what reaches the response must be the written bytes, in order, and nothing else.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        using var page = new PageBuffer(pipe.Writer, 100_000);
        var expected = new List<byte>();
        var random = new Random(7);
        while (expected.Count < 50_000)
        {
            var count = random.Next(7, 3_000);
            var span = page.GetSpan(count)[..count];
            for (var i = 0; i < count; i++)
            {
                span[i] = (byte)('a' + (expected.Count + i) % 26);
            }

            expected.AddRange(span.ToArray());
            page.Advance(count);
        }

        await page.SendAsync(complete: true, CancellationToken.None);
        await pipe.Writer.CompleteAsync();

        var sent = new List<byte>();
        while (true)
        {
            var result = await pipe.Reader.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                sent.AddRange(segment.ToArray());
            }

            pipe.Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        Assert.That(sent, Is.EqualTo(expected));
    }

    private static void Write(PageBuffer page, int count)
    {
        page.GetSpan(count)[..count].Fill((byte)'x');
        page.Advance(count);
    }

    /// <summary>The bytes the response's reader can see: only what a flush made visible.</summary>
    private static long Readable(Pipe pipe)
    {
        if (!pipe.Reader.TryRead(out var result))
        {
            return 0;
        }

        var length = result.Buffer.Length;
        pipe.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        return length;
    }
}
