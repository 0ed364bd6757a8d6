using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Ingestion.Platform.Webhooks;
using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Webhooks;

/// <summary>
/// Makes one signed POST to a callback URL (signed both ways, see <see cref="WebhookSignature"/>). The URL is checked again first (DNS may have
/// changed since the job was requested), and the connection goes only to the addresses that
/// check approved: the socket is opened here, not by a second lookup inside HttpClient, so a
/// name that re-resolves to an internal address in between (DNS rebinding) gets nowhere.
/// No proxy, no redirects (a 3xx is a failed attempt), no cookies.
/// </summary>
internal sealed class WebhookClient : IDisposable
{
    private static readonly HttpRequestOptionsKey<IReadOnlyList<IPAddress>> Approved = new("Ingestion.ApprovedAddresses");
    private static readonly ProductInfoHeaderValue UserAgent = new("Ingestion-Webhooks", "1.0");

    private readonly CallbackGuard _guard;
    private readonly TimeSpan _timeout;
    private readonly HttpClient _http;

    public WebhookClient(CallbackGuard guard, IOptions<WebhookOptions> options)
    {
        _guard = guard;
        _timeout = options.Value.Timeout;
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = _timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>One attempt; never throws for what the receiver or the network does, only when <paramref name="cancellationToken"/> fires.</summary>
    public async Task<WebhookOutcome> SendAsync(Uri url, byte[] body, string secret, Guid deliveryId, int attempt,
        CancellationToken cancellationToken)
    {
        var at = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var check = await _guard.CheckAsync(url, cancellationToken);
        if (!check.IsAllowed)
        {
            return new WebhookOutcome(at, null, $"not sent: callbackUrl {check.Problem}", (int)clock.ElapsedMilliseconds);
        }

        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.UserAgent.Add(UserAgent);
        var id = deliveryId.ToString();
        request.Headers.Add(WebhookSignature.StandardIdHeader, id);
        request.Headers.Add(WebhookSignature.StandardTimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.StandardSignatureHeader, WebhookSignature.SignStandard(secret, id, timestamp, body));
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(secret, timestamp, body));
        request.Headers.Add(WebhookSignature.DeliveryHeader, id);
        request.Headers.Add(WebhookSignature.AttemptHeader, attempt.ToString(CultureInfo.InvariantCulture));
        if (check.Addresses is { } addresses)
        {
            request.Options.Set(Approved, addresses);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            return new WebhookOutcome(at, code, response.IsSuccessStatusCode ? null : $"the receiver answered {code} {response.ReasonPhrase}",
                (int)clock.ElapsedMilliseconds);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WebhookOutcome(at, null, $"no response within {_timeout.TotalSeconds:0.#} s", (int)clock.ElapsedMilliseconds);
        }
        catch (HttpRequestException e)
        {
            var detail = e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message;
            return new WebhookOutcome(at, null, detail, (int)clock.ElapsedMilliseconds);
        }
#pragma warning disable CA1031 // An attempt that throws anything else is a failed attempt, recorded, never a stuck delivery.
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            return new WebhookOutcome(at, null, $"{e.GetType().Name}: {e.Message}", (int)clock.ElapsedMilliseconds);
        }
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        // An allow-listed host carries no approved addresses: it is connected to as DNS says.
        var addresses = context.InitialRequestMessage.Options.TryGetValue(Approved, out var approved)
            ? approved.ToArray()
            : await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
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
