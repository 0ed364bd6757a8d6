using Ingestion.Platform.Datasets;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Tenancy;

internal sealed class TenancyOptionsValidator : IValidateOptions<TenancyOptions>
{
    private const int MinimumKeyLength = 16;

    public ValidateOptionsResult Validate(string? name, TenancyOptions options)
    {
        var failures = new List<string>();
        var seenKeys = new HashSet<string>(StringComparer.Ordinal);
        var seenTenants = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < options.Tenants.Count; i++)
        {
            var tenant = options.Tenants[i];
            var at = $"Tenancy:Tenants:{i}";
            if (!Identifier.IsValid(tenant.Id, Identifier.MaxTenantLength))
            {
                failures.Add($"{at}:Id '{tenant.Id}' must match {Identifier.Pattern} (at most {Identifier.MaxTenantLength} characters).");
            }
            else if (!seenTenants.Add(tenant.Id))
            {
                failures.Add($"{at}:Id '{tenant.Id}' is configured twice.");
            }

            if (tenant.ApiKeys.Count == 0)
            {
                failures.Add($"{at}:ApiKeys must list at least one key.");
            }

            for (var k = 0; k < tenant.ApiKeys.Count; k++)
            {
                CheckKey(tenant.ApiKeys[k], $"{at}:ApiKeys:{k}");
            }

            // A secret in the Standard Webhooks form is its key in base64: a typo there would fail
            // every delivery of the tenant, attempt after attempt, so it stops the start instead.
            if (tenant.WebhookSecret is { } secret && secret.StartsWith("whsec_", StringComparison.Ordinal)
                && !Convert.TryFromBase64String(secret["whsec_".Length..], new byte[secret.Length], out _))
            {
                failures.Add($"{at}:WebhookSecret starts with whsec_ but what follows is not base64.");
            }
        }

        for (var k = 0; k < options.OpsKeys.Count; k++)
        {
            CheckKey(options.OpsKeys[k], $"Tenancy:OpsKeys:{k}");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void CheckKey(string key, string at)
        {
            if (string.IsNullOrWhiteSpace(key) || key.Length < MinimumKeyLength)
            {
                failures.Add($"{at} must be at least {MinimumKeyLength} characters.");
            }
            else if (!seenKeys.Add(key))
            {
                failures.Add($"{at} is used more than once; every key must name one caller.");
            }
        }
    }
}
