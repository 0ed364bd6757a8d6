using System.Security.Cryptography;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Sources;

/// <summary>
/// A source as stored: its definition, its secret opened for use, and the budget it draws from.
/// <see cref="SecretUnreadable"/>: a secret is stored but does not open (<c>Sources:SecretKey</c> changed,
/// or the row was altered); <see cref="Secret"/> is then null, and the source must be given its secret
/// again before it can be synced.
/// </summary>
public sealed record StoredSource(
    string TenantId,
    SourceDefinition Definition,
    string? Secret,
    string BudgetKey,
    DateTimeOffset UpdatedAt,
    bool SecretUnreadable = false)
{
    public bool HasSecret => Secret is not null;
}

/// <summary>The sources of each tenant, in <c>ingestion.sources</c>, with their secrets sealed by <see cref="SourceSecrets"/>.</summary>
public sealed class SourceCatalog(NpgsqlDataSource dataSource, SourceSecrets secrets)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string Columns = "tenant_id, definition, secret, budget_key, updated_at";

    public async Task<StoredSource?> FindAsync(string tenantId, string name, CancellationToken cancellationToken)
    {
        if (!Identifier.IsValid(name))
        {
            return null;
        }

        await using var command = dataSource.CreateCommand($"select {Columns} from ingestion.sources where tenant_id = @tenant and name = @name");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    public async Task<IReadOnlyList<StoredSource>> ListAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"select {Columns} from ingestion.sources where tenant_id = @tenant order by name");
        command.Parameters.AddWithValue("tenant", tenantId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var sources = new List<StoredSource>();
        while (await reader.ReadAsync(cancellationToken))
        {
            sources.Add(Read(reader));
        }

        return sources;
    }

    /// <summary>Registers the source and its rate policies. False when the tenant already has one of that name.</summary>
    public async Task<bool> CreateAsync(string tenantId, SourceDefinition source, string? secret, CancellationToken cancellationToken) =>
        await WriteAsync("""
            insert into ingestion.sources (tenant_id, name, definition, secret, budget_key)
            values (@tenant, @name, @definition, @secret, @budget)
            on conflict do nothing
            """, tenantId, source, secret, cancellationToken);

    /// <summary>
    /// Replaces the source's definition and rate policies. A null <paramref name="secret"/> keeps the
    /// stored one (it is write-only: a client cannot read it back to send it again), unless the new
    /// definition has no auth, which drops it. False when there is no such source.
    /// </summary>
    public async Task<bool> ReplaceAsync(string tenantId, SourceDefinition source, string? secret, CancellationToken cancellationToken)
    {
        if (secret is null && source.Auth is not null && await FindAsync(tenantId, source.Name, cancellationToken) is { } existing)
        {
            secret = existing.Secret;
        }

        return await WriteAsync("""
            update ingestion.sources set definition = @definition, secret = @secret, budget_key = @budget, updated_at = now()
            where tenant_id = @tenant and name = @name
            """, tenantId, source, secret, cancellationToken);
    }

    /// <summary>Deletes the source; its rate policies go with it (<c>on delete cascade</c>).</summary>
    public async Task<bool> DeleteAsync(string tenantId, string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("delete from ingestion.sources where tenant_id = @tenant and name = @name");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    // The source's rate policies are written with its row, in one transaction: the budget key judges
    // every request by the policies of the sources that declare them now (Workers/Syncs/RateBudget.cs),
    // so a PUT's new policies (or new credential, hence key) take the place of the old ones at once.
    private const string PoliciesSql = """
        delete from ingestion.rate_policies where tenant_id = @tenant and source_name = @name;
        insert into ingestion.rate_policies (tenant_id, source_name, budget_key, requests, per_seconds, margin_ms)
        select distinct @tenant, @name, @budget, r, s, @margin from unnest(@requests::int[], @seconds::int[]) as p(r, s)
        """;

    private async Task<bool> WriteAsync(string sql, string tenantId, SourceDefinition source, string? secret,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand(sql, connection, transaction))
        {
            AddRow(command, tenantId, source, secret);
            if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                return false;
            }
        }

        await using (var policies = new NpgsqlCommand(PoliciesSql, connection, transaction))
        {
            policies.Parameters.AddWithValue("tenant", tenantId);
            policies.Parameters.AddWithValue("name", source.Name);
            policies.Parameters.AddWithValue("budget", secrets.BudgetKey(tenantId, source, secret));
            policies.Parameters.AddWithValue("requests", source.RateLimit.Policies.Select(p => p.Requests).ToArray());
            policies.Parameters.AddWithValue("seconds", source.RateLimit.Policies.Select(p => p.PerSeconds).ToArray());
            policies.Parameters.AddWithValue("margin", source.RateLimit.MarginMilliseconds);
            await policies.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private void AddRow(NpgsqlCommand command, string tenantId, SourceDefinition source, string? secret)
    {
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", source.Name);
        command.Parameters.AddWithValue("definition", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(source, Json));
        command.Parameters.Add(new NpgsqlParameter("secret", NpgsqlDbType.Bytea)
        {
            Value = secret is null ? DBNull.Value : secrets.Seal(secret, tenantId, source.Name),
        });
        command.Parameters.AddWithValue("budget", secrets.BudgetKey(tenantId, source, secret));
    }

    private StoredSource Read(NpgsqlDataReader reader)
    {
        var tenantId = reader.GetString(0);
        var definition = JsonSerializer.Deserialize<SourceDefinition>(reader.GetString(1), Json)
                         ?? throw new InvalidOperationException("A source definition in ingestion.sources is empty.");
        string? secret = null;
        var unreadable = false;
        if (!reader.IsDBNull(2))
        {
            try
            {
                secret = secrets.Open(reader.GetFieldValue<byte[]>(2), tenantId, definition.Name);
            }
            catch (CryptographicException)
            {
                // Listing, reading and replacing the source must still work, or the documented way back
                // (PUT the secret again) would fail on the very row it is meant to repair.
                unreadable = true;
            }
        }

        return new StoredSource(tenantId, definition, secret, reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4), unreadable);
    }
}
