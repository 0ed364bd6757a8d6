using System.Net;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Tenancy;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Webhooks;

/// <summary>
/// The result of checking where a callback URL leads: the addresses it may be sent to, or why not.
/// <see cref="Addresses"/> is null for an allow-listed host, which is connected to as DNS says.
/// </summary>
public sealed record CallbackCheck(IReadOnlyList<IPAddress>? Addresses, string? Problem)
{
    public bool IsAllowed => Problem is null;
}

/// <summary>
/// Decides whether a callback URL may be called, when a job is requested and again before
/// every delivery (DNS can change in between): the host is resolved, and every address it
/// resolves to must be public (<see cref="AddressRules"/>), unless the host is in
/// <c>Webhooks:AllowedHosts</c>. The sender then connects only to the addresses checked here.
/// </summary>
public sealed class CallbackGuard(IOptions<WebhookOptions> options, IOptions<TenancyOptions> tenancy)
{
    /// <summary>The secret <paramref name="tenantId"/>'s webhooks are signed with, if it has one.</summary>
    public string? SecretOf(string tenantId) =>
        tenancy.Value.Tenants.FirstOrDefault(t => t.Id == tenantId)?.WebhookSecret is { Length: > 0 } secret ? secret : null;

    /// <summary>
    /// At request time: what is wrong with <paramref name="url"/> as the job's callback, said
    /// so that it reads after the field's name ("callbackUrl …"), or null when it is fine.
    /// </summary>
    public async Task<string?> RefusalAsync(string url, string tenantId, CancellationToken cancellationToken)
    {
        if (!CallbackUrl.TryValidate(url, out var problem))
        {
            return problem;
        }

        if (SecretOf(tenantId) is null)
        {
            return $"cannot be used: tenant '{tenantId}' has no webhook secret to sign callbacks with; ask an operator to configure one.";
        }

        return (await CheckAsync(new Uri(url), cancellationToken)).Problem;
    }

    /// <summary>Resolves the URL's host and checks every address it names.</summary>
    public Task<CallbackCheck> CheckAsync(Uri url, CancellationToken cancellationToken) =>
        AddressGuard.CheckAsync(url, options.Value.IsAllowListed(url.IdnHost), options.Value.Timeout,
            "callbacks go only to public addresses (an operator can allow-list an internal host)", cancellationToken);
}
