using Ingestion.Platform.Jobs;
using Ingestion.Platform.Webhooks;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Sources;

/// <summary>
/// Whether a source's URL may be called: http(s), no credentials in it, and a host that resolves
/// only to public addresses unless it is in <c>Sources:AllowedHosts</c> (the same rules as webhook
/// callbacks, <see cref="AddressGuard"/>). Checked when a source is declared, and again by the
/// sync before it connects (and for every next link a page hands it), since DNS can change.
/// </summary>
public sealed class SourceGuard(IOptions<SourceOptions> options)
{
    /// <summary>What is wrong with <paramref name="url"/>, to read after the field's name, or null when it may be called.</summary>
    public async Task<string?> RefusalAsync(string url, CancellationToken cancellationToken) =>
        SyntaxProblem(url) ?? (await CheckAsync(new Uri(url), cancellationToken)).Problem;

    /// <summary>What is wrong with the URL's form (absolute http(s), no credentials, query or fragment), or null.</summary>
    public static string? SyntaxProblem(string url)
    {
        if (!CallbackUrl.TryValidate(url, out var problem))
        {
            return problem;
        }

        var uri = new Uri(url);
        return string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment)
            ? null
            : "must not carry a query or fragment; put fixed parameters in request.query.";
    }

    /// <summary>Resolves the URL's host and checks every address: connect only to <see cref="CallbackCheck.Addresses"/>.</summary>
    public Task<CallbackCheck> CheckAsync(Uri url, CancellationToken cancellationToken) =>
        AddressGuard.CheckAsync(url, options.Value.IsAllowListed(url.IdnHost), options.Value.ResolveTimeout,
            "sources are called only at public addresses (an operator can allow-list an internal host in Sources:AllowedHosts)",
            cancellationToken);
}
