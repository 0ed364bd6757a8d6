using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// The HTTP client of sources: no proxy, no redirects (a redirect could carry the credential
/// elsewhere), no cookies. Not the host's HttpClientFactory, whose logging writes request URLs, and a
/// source's URL may carry its secret as a query parameter.
/// </summary>
public sealed class SourceHttp(IOptions<SyncOptions> options) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        AutomaticDecompression = System.Net.DecompressionMethods.All,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(15),
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

    public void Dispose() => _http.Dispose();
}
