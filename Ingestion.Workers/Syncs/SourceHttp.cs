using System.Net.Sockets;
using System.Net;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Webhooks;
using Ingestion.Workers.Streams;
using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// The HTTP client of sources: no proxy, no redirects (a redirect could carry the credential
/// elsewhere), no cookies. Not the host's HttpClientFactory, whose logging writes request URLs, and a
/// source's URL may carry its secret as a query parameter.
/// The socket is opened here, only to the addresses the source guard approved for the request
/// (<see cref="Approve"/>), each checked again against <see cref="AddressRules"/>: a pooled or new
/// connection never does a second lookup of its own, so a name that re-resolves to an internal
/// address after the check (DNS rebinding) gets nowhere. An allow-listed host carries no approved
/// addresses and is connected to as DNS says.
/// </summary>
public sealed class SourceHttp(IOptions<SyncOptions> options) : IDisposable
{
    private static readonly HttpRequestOptionsKey<IReadOnlyList<IPAddress>> Approved = new("Ingestion.ApprovedAddresses");

    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        AutomaticDecompression = System.Net.DecompressionMethods.All,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(15),
        ConnectCallback = ConnectAsync,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private readonly int _maxPageBytes = options.Value.MaxPageBytes;

    /// <summary>Pages read and not yet loaded, across every sync of this worker: what bounds its memory, not partitions × jobs.</summary>
    private readonly SemaphoreSlim _pagesInFlight = new(options.Value.MaxPagesInFlight, options.Value.MaxPagesInFlight);

    /// <summary>The send window of the request being sent on this flow (null: none), read where its first byte is written.</summary>
    private static readonly AsyncLocal<SendWindow?> CurrentWindow = new();

    /// <summary>Sends the request; the body is read by the caller. A <paramref name="timeout"/> that passes is a <see cref="TimeoutException"/>.</summary>
    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, TimeSpan timeout, CancellationToken cancellationToken) =>
        SendAsync(request, timeout, null, cancellationToken);

    /// <summary>
    /// Sends the request only if its first byte is written within <paramref name="window"/> (a rate budget slot): a
    /// connection opened first, or a thread that ran late, may push it past the slot's end, and then nothing is written and
    /// the request fails with <see cref="SendWindow.Missed"/> set. Otherwise <see cref="SendWindow.SentAt"/> says when it left.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, TimeSpan timeout, SendWindow? window,
        CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        CurrentWindow.Value = window;
        try
        {
            // Headers only: the body is read by the page's loader (OpenPageAsync), counted as it comes, so an oversized one stops at the limit.
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            return response;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No answer within {timeout.TotalSeconds:0} s.");
        }
    }

    /// <summary>
    /// Waits for one of the worker's page slots; disposing what it returns frees it (when the page is loaded).
    /// </summary>
    public async Task<IDisposable> TakePageSlotAsync(CancellationToken cancellationToken)
    {
        await _pagesInFlight.WaitAsync(cancellationToken);
        return new PageSlot(_pagesInFlight);
    }

    /// <summary>
    /// The response's body as a <see cref="PageStream"/>, read by the page's loader within <paramref name="timeout"/> and
    /// never past <see cref="SyncOptions.MaxPageBytes"/>: a larger body is <c>page_too_large</c> as soon as its declared
    /// length or its bytes so far say so (not a network failure to retry).
    /// </summary>
    internal async Task<PageStream> OpenPageAsync(HttpResponseMessage response, JsonPath recordsPath, IReadOnlyList<JsonPath> watched,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > _maxPageBytes)
        {
            throw TooLarge($"of {response.Content.Headers.ContentLength} bytes");
        }

        var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return new PageStream(new CountedStream(body, _maxPageBytes, this), response.RequestMessage?.RequestUri is { } url ? PageRequests.Describe(url) : "The source",
            recordsPath, watched, timeout);
    }

    private SyncException TooLarge(string what) =>
        new("page_too_large", $"A page {what} is over the {_maxPageBytes} bytes allowed (Syncs:MaxPageBytes); ask for smaller pages.");

    /// <summary>
    /// Marks <paramref name="request"/> to connect only to <paramref name="addresses"/>, what
    /// <see cref="Ingestion.Platform.Sources.SourceGuard.CheckAsync"/> approved for its host (null: an allow-listed host).
    /// </summary>
    public static void Approve(HttpRequestMessage request, IReadOnlyList<IPAddress>? addresses)
    {
        if (addresses is not null)
        {
            request.Options.Set(Approved, addresses);
        }
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        if (context.InitialRequestMessage.Options.TryGetValue(Approved, out var approved))
        {
            // Checked again here: whatever carried the addresses, a refused one is never connected to.
            addresses = approved.Where(a => AddressRules.Refusal(a) is null).ToArray();
            if (addresses.Length == 0)
            {
                throw new HttpRequestException($"{context.DnsEndPoint.Host} has no address a source may be called at.");
            }
        }
        else
        {
            addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new WindowedStream(new NetworkStream(socket, ownsSocket: true));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _pagesInFlight.Dispose();
    }

    private sealed class PageSlot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }

    /// <summary>
    /// A connection's stream that holds each request to its send window where it is written: the request's first write
    /// (its headers) is where it leaves, on the request's own flow (<see cref="CurrentWindow"/>), whether the connection was
    /// pooled or just opened. Past the window nothing is written: the write fails, and with it the request.
    /// </summary>
    private sealed class WindowedStream(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.ReadAsync(buffer, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count)
        {
            Leave();
            inner.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Leave();
            inner.Write(buffer);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Leave();
            return inner.WriteAsync(buffer, offset, count, cancellationToken);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Leave();
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync();
            await base.DisposeAsync();
        }

        private static void Leave()
        {
            if (CurrentWindow.Value is { } window && !window.Leave(System.Diagnostics.Stopwatch.GetTimestamp()))
            {
                throw new IOException("The request would have left after its rate budget slot ended; nothing was sent.");
            }
        }
    }

    /// <summary>A read-only view of a body that refuses to go past the page limit.</summary>
    private sealed class CountedStream(Stream inner, long limit, SourceHttp owner) : ReadOnlyStream
    {
        private long _read;

        public override long Position
        {
            get => _read;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        private int Count(int read)
        {
            _read += read;
            if (_read > limit)
            {
                throw owner.TooLarge($"of more than {limit} bytes");
            }

            return read;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// When a request may leave (<see cref="SourceHttp.SendAsync(HttpRequestMessage, TimeSpan, SendWindow?, CancellationToken)"/>):
/// no later than <paramref name="notAfter"/>, a <see cref="System.Diagnostics.Stopwatch"/> timestamp (a budget slot's end).
/// </summary>
public sealed class SendWindow(long notAfter)
{
    private long _sentAt;
    private volatile bool _missed;

    /// <summary>When the request's first byte was written (<see cref="System.Diagnostics.Stopwatch"/>); 0 while it has not left.</summary>
    public long SentAt => Interlocked.Read(ref _sentAt);

    /// <summary>The request came to be written after <c>notAfter</c>: nothing was sent.</summary>
    public bool Missed => _missed;

    /// <summary>
    /// Called at each write of the request; every one must come within the window, also the first write of an attempt
    /// the handler makes again on a new connection after a pooled one failed. Only a request that never wrote a byte is
    /// <see cref="Missed"/>: one whose first attempt went out may have reached the upstream, and counts as sent.
    /// </summary>
    internal bool Leave(long now)
    {
        if (now > notAfter)
        {
            _missed = Interlocked.Read(ref _sentAt) == 0;
            return false;
        }

        Interlocked.CompareExchange(ref _sentAt, now, 0);
        return true;
    }
}
