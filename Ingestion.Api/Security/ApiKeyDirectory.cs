using System.Security.Cryptography;
using System.Text;
using Ingestion.Platform.Tenancy;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Security;

/// <summary>
/// Maps API keys to callers. Keys are looked up by their SHA-256, so a lookup's timing
/// says nothing about how close a guess came, and actors are named by a short
/// fingerprint of the key, never the key itself.
/// </summary>
public sealed class ApiKeyDirectory
{
    private readonly Dictionary<string, Caller> _callers = new(StringComparer.Ordinal);

    public ApiKeyDirectory(IOptions<TenancyOptions> options)
    {
        foreach (var tenant in options.Value.Tenants)
        {
            foreach (var key in tenant.ApiKeys)
            {
                _callers[Hash(key)] = new Caller(tenant.Id, IsOps: false, $"tenant:{tenant.Id}/key:{Fingerprint(key)}");
            }
        }

        foreach (var key in options.Value.OpsKeys)
        {
            _callers[Hash(key)] = new Caller(null, IsOps: true, $"ops/key:{Fingerprint(key)}");
        }
    }

    public Caller? Find(string key) => _callers.GetValueOrDefault(Hash(key));

    /// <summary>The caller of a key known only by its <see cref="Hash"/>: how a console session finds its key again.</summary>
    public Caller? FindByHash(string keyHash) => _callers.GetValueOrDefault(keyHash);

    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string Fingerprint(string key) => Hash(key)[..8].ToLowerInvariant();
}
