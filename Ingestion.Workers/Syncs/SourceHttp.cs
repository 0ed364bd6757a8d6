using System.Net;
using System.Net.Sockets;
using Ingestion.Platform.Webhooks;
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

        // A page is read whole before it is parsed: this bounds what one page can cost.
        MaxResponseContentBufferSize = options.Value.MaxPageBytes,
    };

    /// <summary>Sends the request; the body is read by the caller. A <paramref name="timeout"/> that passes is a <see cref="TimeoutException"/>.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token);
            return response;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No answer within {timeout.TotalSeconds:0} s.");
        }
    }

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
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _http.Dispose();
}
