using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.Unit;

/// <summary>
/// A sync's request leaves within its rate budget grant or not at all: the window is judged where the request's first
/// byte is written, after whatever connection it had to open, not when its sender woke.
/// </summary>
public sealed class Source_send_windows
{
    [Test]
    public async Task Should_write_nothing_when_the_request_would_leave_after_its_window()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new SourceHttp(Options.Create(new SyncOptions()));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/events");

        // The window closed a millisecond ago: the connection opens, the request does not leave.
        var window = new SendWindow(Stopwatch.GetTimestamp() - Stopwatch.Frequency / 1000);
        var sending = http.SendAsync(request, TimeSpan.FromSeconds(5), window, CancellationToken.None);
        using var accepted = await listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.ThrowsAsync<HttpRequestException>(() => sending);
        Assert.That(window.Missed, Is.True);
        Assert.That(window.SentAt, Is.Zero);
        var buffer = new byte[256];
        var stream = accepted.GetStream();
        stream.ReadTimeout = 2000;
        Assert.That(stream.Read(buffer), Is.Zero, "the connection closed without a byte of the request");
    }

    [Test]
    public async Task Should_say_when_a_request_within_its_window_left()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new SourceHttp(Options.Create(new SyncOptions()));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/events");

        var before = Stopwatch.GetTimestamp();
        var window = new SendWindow(before + 60 * Stopwatch.Frequency);
        var sending = http.SendAsync(request, TimeSpan.FromSeconds(5), window, CancellationToken.None);
        using var accepted = await listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(5));
        var stream = accepted.GetStream();
        var buffer = new byte[1024];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"u8.ToArray());
        using var response = await sending;

        Assert.That(Encoding.ASCII.GetString(buffer, 0, read), Does.StartWith("GET /events HTTP/1.1"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(window.Missed, Is.False);
        Assert.That(window.SentAt, Is.InRange(before, Stopwatch.GetTimestamp()), "when its first byte was written");
    }
}
