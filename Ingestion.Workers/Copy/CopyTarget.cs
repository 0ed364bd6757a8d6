using Ingestion.Platform.Datasets;
using Ingestion.Platform.Tenancy;
using Ingestion.Workers.Csv;

namespace Ingestion.Workers.Copy;

/// <summary>
/// The SQL that loads one file's columns into one dataset's table. Every name in it comes
/// from the dataset's definition, which only holds validated identifiers, and is quoted.
/// </summary>
internal sealed class CopyTarget
{
    public const string Stage = "upload_stage";

    /// <param name="chunkStage">
    /// A chunk's stage table (<see cref="UploadChunk.StageTable"/>): kept across transactions until the chunk is
    /// applied, instead of a temporary table per batch.
    /// </param>
    public CopyTarget(string tenantId, DatasetDefinition dataset, HeaderMap map, string? chunkStage = null)
    {
        Dataset = dataset;
        var stage = chunkStage ?? Stage;
        StageName = stage;
        var table = TenantSchema.QualifiedTable(tenantId, dataset.Name);
        var columns = map.Columns.Select(c => Identifier.Quote(c.Column.Name)).ToList();
        var list = string.Join(", ", columns);
        var keys = dataset.Key.Select(Identifier.Quote).ToList();
        var keyList = string.Join(", ", keys);
        var keyNames = string.Join(", ", dataset.Key);
        string Match(string a, string b) => string.Join(" and ", keys.Select(k => $"{a}.{k} = {b}.{k}"));
        var keyText = $"'({keyNames})=(' || concat_ws(', ', {string.Join(", ", keys.Select(k => $"s.{k}::text"))}) || ')'";

        Columns = columns.Count;
        CopySql = $"copy {table} ({list}) from stdin (format binary)";
        CreateStageSql = chunkStage is null
            ? $"create temp table {stage} (like {table}, __line bigint not null, __raw bytea not null) on commit drop"
            : $"create table if not exists {stage} (like {table}, __line bigint not null, __raw bytea not null)";
        StageCopySql = $"copy {stage} ({list}, __line, __raw) from stdin (format binary)";

        RejectDuplicatesInFileSql = $"""
            with firsts as (
                select {keyList}, min(__line) as first_line from {stage} group by {keyList} having count(*) > 1
            ), dropped as (
                delete from {stage} s using firsts f where {Match("s", "f")} and s.__line > f.first_line
                returning s.*, f.first_line
            )
            insert into ingestion.upload_rejects (job_id, line, column_name, reason, raw)
            select @job, s.__line, @key_columns, 'repeats the key ' || {keyText} || ' of line ' || s.first_line, s.__raw
            from dropped s
            """;
        RejectExistingKeysSql = $"""
            with dropped as (
                delete from {stage} s using {table} t where {Match("s", "t")} returning s.*
            )
            insert into ingestion.upload_rejects (job_id, line, column_name, reason, raw)
            select @job, s.__line, @key_columns, 'has the key ' || {keyText} || ', which is already in the table', s.__raw
            from dropped s
            """;
        InsertFromStageSql = $"insert into {table} ({list}) select {list} from {stage}";

        var updates = map.Columns.Where(c => !dataset.Key.Contains(c.Column.Name))
            .Select(c => $"{Identifier.Quote(c.Column.Name)} = excluded.{Identifier.Quote(c.Column.Name)}")
            .ToList();
        UpsertFromStageSql = keys.Count == 0 ? "" : $"""
            insert into {table} ({list})
            select distinct on ({keyList}) {list} from {stage} order by {keyList}, __line desc
            on conflict ({keyList}) do {(updates.Count == 0 ? "nothing" : "update set " + string.Join(", ", updates))}
            """;
        KeyColumns = keyNames;
        AccountSlot = dataset.Name == BuiltInDatasets.Transactions.Name
            ? map.Columns.ToList().FindIndex(c => c.Column.Name == BuiltInDatasets.AccountColumn)
            : -1;

        var account = Identifier.Quote(BuiltInDatasets.AccountColumn);
        DisplacedAccountsSql = AccountSlot < 0 || keys.Count == 0 || dataset.OnKeyConflict != KeyConflictPolicy.Upsert
            ? ""
            : $"select distinct t.{account} from {table} t join {stage} s on {Match("t", "s")}";
        StagedAccountsSql = DisplacedAccountsSql.Length == 0
            ? $"select distinct {account} from {stage}"
            : $"select {account} from {stage} union {DisplacedAccountsSql}";
    }

    /// <summary>
    /// The accounts of the rows an upsert of the stage replaces, run before it: a transaction that moves
    /// from account A to account B changes what A shows as much as what B shows. Empty when the load
    /// replaces no rows or is not of transactions.
    /// </summary>
    public string DisplacedAccountsSql { get; }

    /// <summary>Every account a kept stage's rows touch when it is applied: theirs, and those of the rows they replace.</summary>
    public string StagedAccountsSql { get; }

    /// <summary>Where the account id is among a row's values, for the accounts' change counters; -1 when not loading transactions.</summary>
    public int AccountSlot { get; }

    public DatasetDefinition Dataset { get; }

    /// <summary>The table staged rows go to: the temporary one, or a chunk's.</summary>
    public string StageName { get; }

    /// <summary>How many of the table's columns a row of the file fills (the stage adds its line and raw record).</summary>
    public int Columns { get; }

    /// <summary>Rows straight into the table: PostgreSQL's fastest path, used while no key collides.</summary>
    public string CopySql { get; }

    public string CreateStageSql { get; }

    public string StageCopySql { get; }

    /// <summary>Keeps the first of rows that share a key within the batch; the later ones become rejects.</summary>
    public string RejectDuplicatesInFileSql { get; }

    /// <summary>Rows whose key is already in the table become rejects.</summary>
    public string RejectExistingKeysSql { get; }

    public string InsertFromStageSql { get; }

    /// <summary>The last row of the batch for each key wins, over the table too.</summary>
    public string UpsertFromStageSql { get; }

    public string KeyColumns { get; }

    public bool HasKey => Dataset.Key.Count > 0;
}
