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

    /// <summary>Registers the source. False when the tenant already has one of that name.</summary>
    public async Task<bool> CreateAsync(string tenantId, SourceDefinition source, string? secret, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            insert into ingestion.sources (tenant_id, name, definition, secret, budget_key)
            values (@tenant, @name, @definition, @secret, @budget)
            on conflict do nothing
            """);
        AddRow(command, tenantId, source, secret);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Replaces the source's definition. A null <paramref name="secret"/> keeps the stored one (it is
    /// write-only: a client cannot read it back to send it again), unless the new definition has no
    /// auth, which drops it. False when there is no such source.
    /// </summary>
    public async Task<bool> ReplaceAsync(string tenantId, SourceDefinition source, string? secret, CancellationToken cancellationToken)
    {
        if (secret is null && source.Auth is not null && await FindAsync(tenantId, source.Name, cancellationToken) is { } existing)
        {
            secret = existing.Secret;
        }

        await using var command = dataSource.CreateCommand("""
            update ingestion.sources set definition = @definition, secret = @secret, budget_key = @budget, updated_at = now()
            where tenant_id = @tenant and name = @name
            """);
        AddRow(command, tenantId, source, secret);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<bool> DeleteAsync(string tenantId, string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("delete from ingestion.sources where tenant_id = @tenant and name = @name");
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
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
