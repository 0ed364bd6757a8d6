using System.Text;
using System.Text.Json;
using Ingestion.Platform.Tenancy;
using Npgsql;

namespace Ingestion.Platform.Datasets;

/// <summary>
/// The datasets of each tenant: their definitions in <c>ingestion.datasets</c> and their
/// tables in the tenant's schema, created together in one transaction.
/// </summary>
public sealed class DatasetCatalog(NpgsqlDataSource dataSource)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string FindSql = "select definition from ingestion.datasets where tenant_id = @tenant and name = @name";
    private const string ListSql = "select definition from ingestion.datasets where tenant_id = @tenant order by name";
    private const string InsertSql = """
        insert into ingestion.datasets (tenant_id, name, definition) values (@tenant, @name, @definition)
        on conflict do nothing
        """;

    private const string LockSql = "select definition from ingestion.datasets where tenant_id = @tenant and name = @name for update";
    private const string UpdateSql = "update ingestion.datasets set definition = @definition where tenant_id = @tenant and name = @name";

    public async Task<DatasetDefinition?> FindAsync(string tenantId, string name, CancellationToken cancellationToken)
    {
        if (!Identifier.IsValid(name))
        {
            return null;
        }

        await using var command = dataSource.CreateCommand(FindSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        var json = (string?)await command.ExecuteScalarAsync(cancellationToken);
        return json is null ? null : Deserialize(json);
    }

    public async Task<IReadOnlyList<DatasetDefinition>> ListAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var datasets = new List<DatasetDefinition>();
        while (await reader.ReadAsync(cancellationToken))
        {
            datasets.Add(Deserialize(reader.GetString(0)));
        }

        return datasets;
    }

    /// <summary>Registers the dataset and creates its table. False when the tenant already has one of that name.</summary>
    public async Task<bool> CreateAsync(string tenantId, DatasetDefinition dataset, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await EnsureSchemaAsync(connection, tenantId, cancellationToken);
        if (!await CreateInAsync(connection, tenantId, dataset, cancellationToken))
        {
            return false;
        }

        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Declares an index built on the dataset's table after its registration (by an index build job),
    /// so reads may filter and order by it. Locks the definition's row, so two declarations cannot
    /// lose one another, and the most indexes a dataset may have holds even when builds accepted
    /// together end together.
    /// </summary>
    public static async Task<IndexDeclaration> DeclareIndexAsync(NpgsqlConnection connection, string tenantId, string name,
        IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        DatasetDefinition dataset;
        await using (var select = new NpgsqlCommand(LockSql, connection, transaction))
        {
            select.Parameters.AddWithValue("tenant", tenantId);
            select.Parameters.AddWithValue("name", name);
            if (await select.ExecuteScalarAsync(cancellationToken) is not string json)
            {
                return IndexDeclaration.DatasetMissing;
            }

            dataset = Deserialize(json);
        }

        if (!DatasetIndex.IsDeclared(dataset, columns))
        {
            if (dataset.SecondaryIndexes.Count >= DatasetIndex.MaxIndexes)
            {
                return IndexDeclaration.TooMany;
            }

            await using var update = new NpgsqlCommand(UpdateSql, connection, transaction);
            update.Parameters.AddWithValue("tenant", tenantId);
            update.Parameters.AddWithValue("name", name);
            update.Parameters.AddWithValue("definition", NpgsqlTypes.NpgsqlDbType.Jsonb,
                JsonSerializer.Serialize(dataset with { Indexes = [.. dataset.SecondaryIndexes, columns] }, Json));
            await update.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return IndexDeclaration.Declared;
    }

    /// <summary>Creates the tenant's schema and built-in datasets if they are missing.</summary>
    public static async Task ProvisionTenantAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await EnsureSchemaAsync(connection, tenantId, cancellationToken);
        foreach (var dataset in BuiltInDatasets.All)
        {
            await CreateInAsync(connection, tenantId, dataset, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The DDL of a dataset's table: typed columns, NOT NULL for required ones, the key as primary key.</summary>
    public static string CreateTableSql(string tenantId, DatasetDefinition dataset)
    {
        var sql = new StringBuilder($"create table {TenantSchema.QualifiedTable(tenantId, dataset.Name)} (");
        sql.AppendJoin(", ", dataset.Columns.Select(c =>
            $"{Identifier.Quote(c.Name)} {c.Type.ToSql()}{(c.Required ? " not null" : "")}"));
        if (dataset.Key.Count > 0)
        {
            sql.Append(", primary key (").AppendJoin(", ", dataset.Key.Select(Identifier.Quote)).Append(')');
        }

        return sql.Append(')').ToString();
    }

    private static async Task<bool> CreateInAsync(NpgsqlConnection connection, string tenantId, DatasetDefinition dataset,
        CancellationToken cancellationToken)
    {
        await using (var insert = new NpgsqlCommand(InsertSql, connection))
        {
            insert.Parameters.AddWithValue("tenant", tenantId);
            insert.Parameters.AddWithValue("name", dataset.Name);
            insert.Parameters.AddWithValue("definition", NpgsqlTypes.NpgsqlDbType.Jsonb, JsonSerializer.Serialize(dataset, Json));
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return false;
            }
        }

        await using var create = new NpgsqlCommand(CreateTableSql(tenantId, dataset), connection);
        await create.ExecuteNonQueryAsync(cancellationToken);
        // The table is new and empty: its indexes are built in the same transaction, not as a job.
        foreach (var index in dataset.SecondaryIndexes)
        {
            await using var createIndex = new NpgsqlCommand(DatasetIndex.CreateSql(tenantId, dataset.Name, index, concurrently: false),
                connection);
            await createIndex.ExecuteNonQueryAsync(cancellationToken);
        }

        return true;
    }

    private static async Task EnsureSchemaAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"create schema if not exists {Identifier.Quote(TenantSchema.NameOf(tenantId))}", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A definition as <c>ingestion.datasets</c> stores it.</summary>
    public static DatasetDefinition Deserialize(string json) =>
        JsonSerializer.Deserialize<DatasetDefinition>(json, Json)
        ?? throw new InvalidOperationException("A dataset definition in ingestion.datasets is empty.");
}

/// <summary>What <see cref="DatasetCatalog.DeclareIndexAsync"/> did.</summary>
public enum IndexDeclaration
{
    /// <summary>The index is declared (now, or it already was).</summary>
    Declared,

    /// <summary>The dataset no longer exists.</summary>
    DatasetMissing,

    /// <summary>The dataset already declares <see cref="DatasetIndex.MaxIndexes"/> indexes.</summary>
    TooMany,
}
