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
