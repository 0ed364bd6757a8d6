using System.Collections.Concurrent;
using System.Net;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// A webhook receiver on this machine: an HTTP listener on a free port of localhost that keeps
/// every request it gets and answers each path with the statuses it was told, in order (the
/// last one repeats; 200 when told nothing), after the stall it was told, if any. Requests are
/// served concurrently, so a stalled path holds up no other.
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    public sealed record Request(DateTimeOffset At, string Method, string Path, string? ContentType,
        IReadOnlyDictionary<string, string> Headers, byte[] Body)
    {
        public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : "";
    }

    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<int>> _answers = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Request>> _received = new();
    private readonly ConcurrentDictionary<string, TimeSpan> _stalls = new();
    private readonly Task _loop;

    public WebhookReceiver()
    {
        Port = FreePorts.Next();
        _listener.Prefixes.Add($"http://localhost:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url(string path) => $"http://localhost:{Port}/{path}";

    public void Answer(string path, params int[] statuses) => _answers[path] = new ConcurrentQueue<int>(statuses);

    /// <summary>Requests to <paramref name="path"/> are kept at once but answered only after <paramref name="stall"/>.</summary>
    public void Stall(string path, TimeSpan stall) => _stalls[path] = stall;

    public IReadOnlyList<Request> Received(string path) =>
        _received.TryGetValue(path, out var requests) ? requests.ToList() : [];

    /// <summary>Waits until <paramref name="path"/> has had <paramref name="count"/> requests, failing the test after <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<Request>> WaitForAsync(string path, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Received(path).Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var received = Received(path);
        Assert.That(received, Has.Count.GreaterThanOrEqualTo(count), $"requests to /{path} within {timeout}");
        return received;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                // Stopped: between the loop's check and the wait, HttpListener says "call Start()" rather than that it stopped.
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var path = context.Request.Url!.AbsolutePath.TrimStart('/');
        using var body = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(body);
        var headers = context.Request.Headers.AllKeys.Where(k => k is not null)
            .ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
        _received.GetOrAdd(path, _ => new ConcurrentQueue<Request>()).Enqueue(new Request(DateTimeOffset.UtcNow,
            context.Request.HttpMethod, path, context.Request.ContentType, headers, body.ToArray()));

        if (_stalls.TryGetValue(path, out var stall))
        {
            await Task.Delay(stall);
        }

        var answers = _answers.GetOrAdd(path, _ => new ConcurrentQueue<int>([200]));
        var status = answers.Count > 1 && answers.TryDequeue(out var next) ? next : answers.TryPeek(out var last) ? last : 200;
        try
        {
            context.Response.StatusCode = status;
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
        {
            // The caller gave up waiting, or the receiver was stopped meanwhile.
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
