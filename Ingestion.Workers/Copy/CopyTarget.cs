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
        // The same, for a chunk loaded in parallel: a row a later chunk of the job (after @chunk) wrote is not
        // "already in the table" for it, whenever that chunk committed. The insert then meets it (a unique
        // violation), and the batch or apply is redone, which evicts that chunk (LaterChunksSql) before this step.
        RejectKeysBeforeLaterChunksSql = $"""
            with dropped as (
                delete from {stage} s using {table} t where {Match("s", "t")}
                and not exists (select from ingestion.upload_chunk_batches b
                                where b.job_id = @job and b.chunk > @chunk and b.xid::xid = t.xmin)
                returning s.*
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
        LaterChunksSql = keys.Count == 0 ? "" : $"""
            select distinct b.chunk from {stage} s join {table} t on {Match("s", "t")}
            join ingestion.upload_chunk_batches b on b.job_id = @job and b.chunk > @chunk and b.xid::xid = t.xmin
            order by b.chunk
            """;
        HoldsKeysSql = keys.Count == 0 ? "" : $"""
            select exists (select from {stage} s join {table} t on {Match("s", "t")}
                           join ingestion.upload_chunk_batches b on b.job_id = @job and b.chunk = @chunk and b.xid::xid = t.xmin)
            """;
        // The evicted chunk's rows are found by their keys (read again from its byte range into EvictedTable), then by
        // xmin: a key alone could be an earlier chunk's row, an xmin alone (32 bits) an old row's from 2^32 transactions ago.
        // A line of the range the chunk rejected loaded nothing, and its key may be exactly such an old row's (rejected as
        // already in the table): its lines are left out by the rejects, read before the eviction forgets them.
        CreateEvictedSql = $"""
            create temp table if not exists {EvictedTable} on commit drop as select {list}, 0::bigint as __line from {table} with no data;
            truncate {EvictedTable}
            """;
        EvictedCopySql = $"copy {EvictedTable} ({list}, __line) from stdin (format binary)";
        DropEvictedRejectsSql = $"""
            delete from {EvictedTable} e using ingestion.upload_rejects r where r.job_id = @job and r.line = e.__line
            """;
        EvictRowsSql = keys.Count == 0 ? "" : $"""
            delete from {table} t using {EvictedTable} e, ingestion.upload_chunk_batches b
            where {Match("t", "e")} and b.job_id = @job and b.chunk = @chunk and t.xmin = b.xid::xid
            returning {(AccountSlot >= 0 ? "t." + account : "null::bigint")}
            """;
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

    /// <summary>
    /// <see cref="RejectExistingKeysSql"/> for a chunk (<c>@chunk</c>) loaded in parallel: a row written by a
    /// later chunk of the job does not reject the staged row, even if that chunk committed after the eviction
    /// looked (statements under READ COMMITTED each see their own moment), since the earlier line owns the key.
    /// </summary>
    public string RejectKeysBeforeLaterChunksSql { get; }

    public string InsertFromStageSql { get; }

    /// <summary>The last row of the batch for each key wins, over the table too.</summary>
    public string UpsertFromStageSql { get; }

    /// <summary>The later chunks of a job (<c>@job</c>, after <c>@chunk</c>) whose committed batches wrote a key of the stage.</summary>
    public string LaterChunksSql { get; }

    /// <summary>
    /// Whether a chunk (<c>@chunk</c>) still holds, through its committed batches, a key of the stage: asked again
    /// once its row is locked, since another eviction may have undone it meanwhile.
    /// </summary>
    public string HoldsKeysSql { get; }

    /// <summary>Where an eviction puts the rows of the evicted chunk's committed byte range, read again from the file, for their keys.</summary>
    public const string EvictedTable = "upload_evicted";

    /// <summary>Creates (or empties, for the next evicted chunk of the same transaction) the <see cref="EvictedTable"/>.</summary>
    public string CreateEvictedSql { get; }

    public string EvictedCopySql { get; }

    /// <summary>
    /// Leaves out of the <see cref="EvictedTable"/> the lines the chunk rejected (<c>@job</c>'s rejects): they loaded no row,
    /// and a line rejected as already in the table has the key of a row from before the job, which is not the chunk's.
    /// </summary>
    public string DropEvictedRejectsSql { get; }

    /// <summary>
    /// Deletes the rows a chunk's committed batches wrote: a key of its loaded lines (<see cref="EvictedTable"/>) and an
    /// <c>xmin</c> of one of its batches, both; returns their accounts (transactions only).
    /// </summary>
    public string EvictRowsSql { get; }

    public string KeyColumns { get; }

    public bool HasKey => Dataset.Key.Count > 0;
}
