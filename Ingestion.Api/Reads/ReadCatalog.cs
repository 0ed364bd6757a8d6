using System.Collections.Concurrent;
using Ingestion.Platform.Datasets;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>A dataset as a read sees it: its definition, its change counter and how many rows loads put in it.</summary>
public sealed record ReadTarget(DatasetDefinition Dataset, long Version, long Rows);

/// <summary>
/// What a read asks before its query, in one round trip to the read database. The counter is
/// read before the rows, so an answer is never older than its ETag says (at worst newer,
/// which costs the client one more full answer, never a stale one).
/// </summary>
public sealed class ReadCatalog(ReadDatabase database)
{
    /// <summary>Most parsed definitions kept; past it the cache starts over (datasets are far fewer in practice).</summary>
    private const int MaxDefinitions = 1024;

    /// <summary>
    /// A definition longer than this (characters of JSON; a typical one is one or two thousand) is parsed on every read
    /// and not kept: with <see cref="MaxDefinitions"/>, the cache holds at most 16 MiB of JSON and what it parses to,
    /// however many wide datasets a tenant declares.
    /// </summary>
    private const int MaxCachedJsonChars = 8192;

    private const string DatasetSql = """
        select d.definition, coalesce(c.version, 0), coalesce(c.rows_loaded, 0)
        from ingestion.datasets d
        left join ingestion.dataset_changes c on c.tenant_id = d.tenant_id and c.dataset = d.name
        where d.tenant_id = @tenant and d.name = @name
        """;

    // Parsed definitions by their stored JSON: a definition only changes by being stored again (its JSON then
    // differs), so the text is its own version, and a read does not parse the same JSON on every request.
    private readonly ConcurrentDictionary<string, DatasetDefinition> _definitions = new(StringComparer.Ordinal);

    private const string AccountSql =
        "select version from ingestion.account_changes where tenant_id = @tenant and account_id = @account";

    public async Task<ReadTarget?> FindAsync(string tenantId, string name, CancellationToken cancellationToken)
    {
        if (!Identifier.IsValid(name))
        {
            return null;
        }

        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(DatasetSql, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new ReadTarget(Definition(reader.GetString(0)), reader.GetInt64(1), reader.GetInt64(2))
            : null;
    }

    private DatasetDefinition Definition(string json)
    {
        if (json.Length > MaxCachedJsonChars)
        {
            return DatasetCatalog.Deserialize(json);
        }

        if (_definitions.TryGetValue(json, out var known))
        {
            return known;
        }

        if (_definitions.Count >= MaxDefinitions)
        {
            _definitions.Clear();
        }

        return _definitions.GetOrAdd(json, DatasetCatalog.Deserialize(json));
    }

    /// <summary>The account's change counter; null when no load ever put a transaction of it in this tenant's data.</summary>
    public async Task<long?> AccountVersionAsync(string tenantId, long accountId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(AccountSql, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("account", accountId);
        return await command.ExecuteScalarAsync(cancellationToken) as long?;
    }
}
