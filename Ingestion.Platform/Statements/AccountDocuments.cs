using Npgsql;

namespace Ingestion.Platform.Statements;

/// <summary>A PDF attached to an account; every statement of the account appends its pages.</summary>
public sealed record AccountDocument(Guid DocumentId, long AccountId, string FileName, long Bytes, int Pages, string Sha256,
    DateTimeOffset CreatedAt);

/// <summary>The table of attached documents (<c>ingestion.account_documents</c>), scoped to a tenant.</summary>
public sealed class AccountDocuments(NpgsqlDataSource dataSource)
{
    /// <summary>Inserts only while the account's documents, this one included, fit <c>@quota</c> bytes.</summary>
    private const string InsertSql = """
        insert into ingestion.account_documents (document_id, tenant_id, account_id, file_name, object_key, bytes, pages, sha256)
        select @id, @tenant, @account, @name, @key, @bytes, @pages, @sha256
        where (select coalesce(sum(bytes), 0) from ingestion.account_documents where tenant_id = @tenant and account_id = @account)
              + @bytes <= @quota
        returning created_at
        """;

    /// <summary>Attachments to one account count one after the other, so two racing ones cannot both fit the last room.</summary>
    private const string LockSql = "select pg_advisory_xact_lock(hashtext('ingestion.attachments:' || @tenant), hashtext(@account::text))";

    private const string UsedSql = """
        select coalesce(sum(bytes), 0)::bigint from ingestion.account_documents where tenant_id = @tenant and account_id = @account
        """;

    private const string ListSql = """
        select document_id, account_id, file_name, bytes, pages, sha256, created_at from ingestion.account_documents
        where tenant_id = @tenant and account_id = @account order by created_at, document_id
        """;

    public static string KeyFor(string tenantId, long accountId, Guid documentId) =>
        $"attachments/{tenantId}/{accountId}/{documentId:N}.pdf";

    /// <summary>Bytes the account's attached documents take.</summary>
    public async Task<long> UsedBytesAsync(string tenantId, long accountId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(UsedSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("account", accountId);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <returns>The document as recorded, or null when it does not fit the account's <paramref name="quotaBytes"/>.</returns>
    public async Task<AccountDocument?> AddAsync(string tenantId, AccountDocument document, string key, long quotaBytes,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand(LockSql, connection, transaction))
        {
            lockCommand.Parameters.AddWithValue("tenant", tenantId);
            lockCommand.Parameters.AddWithValue("account", document.AccountId);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var command = new NpgsqlCommand(InsertSql, connection, transaction);
        command.Parameters.AddWithValue("quota", quotaBytes);
        command.Parameters.AddWithValue("id", document.DocumentId);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("account", document.AccountId);
        command.Parameters.AddWithValue("name", document.FileName);
        command.Parameters.AddWithValue("key", key);
        command.Parameters.AddWithValue("bytes", document.Bytes);
        command.Parameters.AddWithValue("pages", document.Pages);
        command.Parameters.AddWithValue("sha256", document.Sha256);
        if (await command.ExecuteScalarAsync(cancellationToken) is not DateTime created)
        {
            return null;
        }

        await transaction.CommitAsync(cancellationToken);
        return document with { CreatedAt = new DateTimeOffset(created, TimeSpan.Zero) };
    }

    public async Task<IReadOnlyList<AccountDocument>> ListAsync(string tenantId, long accountId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("account", accountId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var documents = new List<AccountDocument>();
        while (await reader.ReadAsync(cancellationToken))
        {
            documents.Add(new AccountDocument(reader.GetGuid(0), reader.GetInt64(1), reader.GetString(2), reader.GetInt64(3),
                reader.GetInt32(4), reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return documents;
    }
}
