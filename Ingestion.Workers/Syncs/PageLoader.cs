using System.Runtime.InteropServices;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Tenancy;
using Ingestion.Workers.Copy;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Workers.Syncs;

/// <summary>A page as fetched, waiting to be loaded: its records, where it was, and where the next one is.</summary>
internal sealed class FetchedPage(JsonDocument body, JsonElement records) : IDisposable
{
    public JsonElement Records => records;

    public required PagePosition Position { get; init; }

    /// <summary>Where the partition goes on from; null when this page was its last.</summary>
    public required PagePosition? After { get; init; }

    public long? ExpectedTotal { get; init; }

    /// <summary>Requests made for this page, refused ones and retries included.</summary>
    public int Requests { get; init; }

    public int Http429 { get; init; }

    public DateTimeOffset? HighWater { get; init; }

    public DateTimeOffset? LowWater { get; init; }

    public bool? Descending { get; init; }

    /// <summary>The worker's page slot this page holds until it is loaded (<see cref="SourceHttp.TakePageSlotAsync"/>).</summary>
    public IDisposable? Slot { get; init; }

    public void Dispose()
    {
        body.Dispose();
        Slot?.Dispose();
    }
}

/// <summary>What one committed page added.</summary>
internal readonly record struct PageLoad(long Records, long Loaded, long Duplicates, long Rejects);

/// <summary>
/// Loads one page and moves its partition's checkpoint, in one transaction: the good records go
/// through binary COPY into the table (or, when a key collides, into a staging table merged by the
/// dataset's key — <c>reject</c> keeps the row already there and counts the record as a duplicate,
/// <c>upsert</c> replaces it), the bad ones with their raw JSON and the reason into the job's
/// rejects, and the checkpoint moves past the page, fenced on the page count this loader's runner
/// started from and has committed since (not the count it reads in the same transaction, which
/// fences nothing): a second runner of the same partition that committed a page in between makes
/// this one stop instead of committing its page on top. A
/// crash before the commit leaves neither the rows nor the checkpoint; after it, both. That is where
/// exactly-once is kept. One loader per partition connection: its staging table lives in that session.
/// </summary>
internal sealed class PageLoader
{
    private const string Stage = "sync_stage";

    private readonly NpgsqlConnection _connection;
    private readonly Guid _jobId;
    private readonly int _partition;
    private readonly RecordMapper _mapper;
    private readonly int _rejectedRecordBytes;
    private readonly string _createStageSql;
    private readonly string _stageCopySql;
    private readonly string _copySql;
    private readonly string _dedupeSql;
    private readonly string _mergeSql;
    private readonly string _duplicatesSql;
    private readonly IReadOnlyList<string> _keyColumns;
    private bool _staged;

    /// <summary>The partition's page count as this runner expects it: read at the turn's start, one more with each page it commits.</summary>
    private long _pages;

    /// <summary>Distinct accounts of a page's rows (transactions only): at most one entry per record of a page.</summary>
    private readonly HashSet<long> _accounts = [];
    private readonly string _tenantId;
    private readonly string _dataset;

    public PageLoader(NpgsqlConnection connection, Guid jobId, int partition, string tenantId, DatasetDefinition dataset,
        SourceDefinition source, int rejectedRecordBytes, long pagesCommitted)
    {
        _pages = pagesCommitted;
        _connection = connection;
        _jobId = jobId;
        _partition = partition;
        _rejectedRecordBytes = rejectedRecordBytes;
        _tenantId = tenantId;
        _dataset = dataset.Name;
        _mapper = new RecordMapper(dataset, source.Records, source.Incremental?.Column);
        var table = TenantSchema.QualifiedTable(tenantId, dataset.Name);
        var columns = _mapper.ColumnNames.Select(Identifier.Quote).ToList();
        var list = string.Join(", ", columns);
        var keys = dataset.Key.Select(Identifier.Quote).ToList();
        var keyList = string.Join(", ", keys);
        _createStageSql = $"create temp table if not exists {Stage} (like {table}, __ordinal bigint not null) on commit delete rows";
        _stageCopySql = $"copy {Stage} ({list}, __ordinal) from stdin (format binary)";
        _copySql = $"copy {table} ({list}) from stdin (format binary)";

        // Within a page, the first record of a key stays (reject) or the last one wins (upsert).
        var keep = dataset.OnKeyConflict == KeyConflictPolicy.Upsert ? "max" : "min";
        _dedupeSql = keys.Count == 0 ? "" : $"""
            delete from {Stage} s using (
                select {keyList}, {keep}(__ordinal) as kept from {Stage} group by {keyList} having count(*) > 1
            ) d where {string.Join(" and ", keys.Select(k => $"s.{k} = d.{k}"))} and s.__ordinal <> d.kept
            """;

        var updates = _mapper.ColumnNames.Where(c => !dataset.Key.Contains(c))
            .Select(c => $"{Identifier.Quote(c)} = excluded.{Identifier.Quote(c)}").ToList();
        var conflict = keys.Count == 0 ? ""
            : dataset.OnKeyConflict == KeyConflictPolicy.Upsert && updates.Count > 0
                ? $"on conflict ({keyList}) do update set {string.Join(", ", updates)}"
                : $"on conflict ({keyList}) do nothing";

        _keyColumns = dataset.Key;
        _duplicatesSql = keys.Count == 0 ? "" : DuplicatesSql(table, keys);

        // xmax = 0 tells a row inserted from one an upsert updated.
        _mergeSql = $"""
            with merged as (
                insert into {table} ({list}) select {list} from {Stage} {conflict} returning (xmax = 0) as inserted
            ) select count(*) filter (where inserted), count(*) filter (where not inserted) from merged
            """;
    }

    public async Task<PageLoad> LoadAsync(FetchedPage page, CancellationToken cancellationToken)
    {
        if (!_staged)
        {
            await using var create = new NpgsqlCommand(_createStageSql, _connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
            _staged = true;
        }

        await using var transaction = await _connection.BeginTransactionAsync(cancellationToken);
        var checkpoint = await ReadPagesAsync(cancellationToken);
        if (checkpoint.Pages != _pages)
        {
            throw new InvalidOperationException(
                $"Partition {_partition} of job {_jobId} has {checkpoint.Pages} pages committed, not the {_pages} this runner fetched from: another runner moved it.");
        }

        var rejects = new List<(long Ordinal, string Column, string Reason, byte[] Raw)>();
        long loaded, duplicates = 0;

        // Fast path: while no key collides (the usual page), rows go straight into the table. A collision
        // undoes only this attempt (a savepoint) and the page goes through staging and the merge.
        _accounts.Clear();
        await transaction.SaveAsync("page", cancellationToken);
        long staged;
        try
        {
            staged = await CopyAsync(_copySql, page, checkpoint.Records, rejects, cancellationToken);
            loaded = staged;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await transaction.RollbackAsync("page", cancellationToken);
            rejects.Clear();
            _accounts.Clear();
            staged = await CopyAsync(_stageCopySql, page, checkpoint.Records, rejects, cancellationToken);
            await RecordDuplicatesAsync(transaction, cancellationToken);
            if (_dedupeSql.Length > 0 && staged > 1)
            {
                await using var dedupe = new NpgsqlCommand(_dedupeSql, _connection, transaction);
                duplicates += await dedupe.ExecuteNonQueryAsync(cancellationToken);
            }

            await using var merge = new NpgsqlCommand(_mergeSql, _connection, transaction);
            await using var reader = await merge.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            loaded = reader.GetInt64(0);
            duplicates = staged - loaded;
        }

        if (rejects.Count > 0)
        {
            await using var importer = await _connection.BeginBinaryImportAsync(
                "copy ingestion.upload_rejects (job_id, line, column_name, reason, raw) from stdin (format binary)", cancellationToken);
            foreach (var reject in rejects)
            {
                await importer.StartRowAsync(cancellationToken);
                await importer.WriteAsync(_jobId, NpgsqlDbType.Uuid, cancellationToken);
                await importer.WriteAsync(RejectLine(reject.Ordinal), NpgsqlDbType.Bigint, cancellationToken);
                await importer.WriteAsync(reject.Column, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(reject.Reason, NpgsqlDbType.Text, cancellationToken);
                await importer.WriteAsync(reject.Raw, NpgsqlDbType.Bytea, cancellationToken);
            }

            await importer.CompleteAsync(cancellationToken);
        }

        var ordinal = checkpoint.Records + page.Records.GetArrayLength();
        var records = ordinal - checkpoint.Records;
        await MoveCheckpointAsync(page, _pages, records, loaded, duplicates, rejects.Count, cancellationToken);
        if (loaded > 0)
        {
            // Last before commit: readers' ETags move with the rows (the read API's change counters).
            await DatasetChanges.BumpAsync(_connection, transaction, _tenantId, _dataset, loaded,
                _mapper.AccountSlot >= 0 ? _accounts : null, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        _pages++;
        return new PageLoad(records, loaded, duplicates, rejects.Count);
    }

    /// <summary>
    /// Checks each record and writes the good ones through <paramref name="copySql"/> (the table, or the
    /// staging table with each row's ordinal); the bad ones are collected with their raw JSON.
    /// </summary>
    private async Task<long> CopyAsync(string copySql, FetchedPage page, long recordsBefore,
        List<(long Ordinal, string Column, string Reason, byte[] Raw)> rejects, CancellationToken cancellationToken)
    {
        var staging = ReferenceEquals(copySql, _stageCopySql);
        var ordinal = recordsBefore;
        var written = 0L;
        await using var importer = await _connection.BeginBinaryImportAsync(copySql, cancellationToken);
        foreach (var record in page.Records.EnumerateArray())
        {
            ordinal++;
            if (_mapper.Check(record) is { } problem)
            {
                rejects.Add((ordinal, problem.Column, problem.Reason,
                    RejectedRecord.Keep(JsonMarshal.GetRawUtf8Value(record), _rejectedRecordBytes)));
                continue;
            }

            await importer.StartRowAsync(cancellationToken);
            _mapper.Write(importer);
            if (_mapper.AccountSlot >= 0)
            {
                _accounts.Add(_mapper.Account);
            }

            if (staging)
            {
                await importer.WriteAsync(ordinal, NpgsqlDbType.Bigint, cancellationToken);
            }

            written++;
        }

        await importer.CompleteAsync(cancellationToken);
        return written;
    }

    /// <summary>
    /// The staged records counted as duplicates — their key is in the table already, or earlier on
    /// this page — grouped by key, recorded with their places before the merge decides their fate
    /// (<see cref="SyncDuplicates"/>). A key the job recorded counts on; a new one is kept while the
    /// job has fewer than <see cref="SyncDuplicates.MaxKeys"/>. The lock per job makes that bound
    /// exact when partitions commit at once; only pages with a colliding key take it.
    /// </summary>
    private static string DuplicatesSql(string table, IReadOnlyList<string> keys)
    {
        var keyList = string.Join(", ", keys.Select(k => $"s.{k}"));
        var json = string.Join(", ", keys.Select((k, i) => $"@k{i}, s.{k}"));
        var same = string.Join(" and ", keys.Select(k => $"t.{k} = s.{k}"));
        return $"""
            select pg_advisory_xact_lock(hashtextextended('ingestion.sync-duplicates:' || @job::text, 0));
            with seen as (
                select jsonb_build_object({json}) as key, s.__ordinal as record,
                       row_number() over (partition by {keyList} order by s.__ordinal) as nth,
                       exists (select 1 from {table} t where {same}) as loaded
                from {Stage} s
            ), again as (
                select key, count(*) as times, min(record) as first,
                       jsonb_agg(jsonb_build_object('partition', @partition, 'page', @page, 'record', record) order by record)
                           filter (where place <= @places) as places
                from (select *, row_number() over (partition by key order by record) as place from seen where loaded or nth > 1) d
                group by key
            ), fresh as (
                select * from again a
                where not exists (select 1 from ingestion.sync_duplicate_keys k where k.job_id = @job and k.key = a.key)
                order by first
                limit greatest(0, @max - (select count(*) from ingestion.sync_duplicate_keys where job_id = @job))
            )
            insert into ingestion.sync_duplicate_keys as k (job_id, key, times, places, first_place)
            select @job, key, times, places, @base + first from again a
            where a.key in (select key from fresh)
               or exists (select 1 from ingestion.sync_duplicate_keys k where k.job_id = @job and k.key = a.key)
            on conflict (job_id, key) do update set
                times = k.times + excluded.times,
                places = (select jsonb_agg(p order by o) from jsonb_array_elements(k.places || excluded.places) with ordinality e(p, o)
                          where o <= @places)
            """;
    }

    private async Task RecordDuplicatesAsync(NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        if (_duplicatesSql.Length == 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand(_duplicatesSql, _connection, transaction);
        command.Parameters.AddWithValue("job", _jobId);
        command.Parameters.AddWithValue("partition", _partition);
        command.Parameters.AddWithValue("page", _pages + 1);
        command.Parameters.AddWithValue("places", SyncDuplicates.MaxPlaces);
        command.Parameters.AddWithValue("max", (long)SyncDuplicates.MaxKeys);
        command.Parameters.AddWithValue("base", RejectLine(0));
        for (var i = 0; i < _keyColumns.Count; i++)
        {
            command.Parameters.AddWithValue($"k{i}", _keyColumns[i]);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A reject's place in the rejects file: the record's number in its partition, partitions one
    /// after another (a partition holds fewer than 10^12 records).
    /// </summary>
    private long RejectLine(long ordinal) => _partition * 1_000_000_000_000L + ordinal;

    private async Task<(long Pages, long Records)> ReadPagesAsync(CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "select pages, records from ingestion.sync_partitions where job_id = @job and partition = @partition for update", _connection);
        command.Parameters.AddWithValue("job", _jobId);
        command.Parameters.AddWithValue("partition", _partition);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new InvalidOperationException($"Partition {_partition} of job {_jobId} has no checkpoint.");
        }

        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private async Task MoveCheckpointAsync(FetchedPage page, long pagesBefore, long records, long loaded, long duplicates, long rejects,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            update ingestion.sync_partitions set
                next_page = @next, since = @since, until = @until, started = true, finished = @finished,
                high_water = greatest(high_water, @high), low_water = least(low_water, @low),
                descending = coalesce(descending, @descending),
                pages = pages + 1, requests = requests + @requests, records = records + @records, loaded = loaded + @loaded,
                duplicates = duplicates + @duplicates, rejects = rejects + @rejects, http_429 = http_429 + @http429,
                expected_total = coalesce(expected_total, @total), cursor_resumes = 0, updated_at = now()
            where job_id = @job and partition = @partition and pages = @pages
            """, _connection);
        // The total is the partition's first answer: after a refused cursor the upstream counts only the narrowed range.
        var after = page.After ?? page.Position;
        command.Parameters.AddWithValue("next", (object?)page.After?.Next ?? DBNull.Value);
        command.Parameters.AddWithValue("since", (object?)after.Since ?? DBNull.Value);
        command.Parameters.AddWithValue("until", (object?)after.Until ?? DBNull.Value);
        command.Parameters.AddWithValue("finished", page.After is null);
        command.Parameters.AddWithValue("high", NpgsqlDbType.TimestampTz, (object?)page.HighWater ?? DBNull.Value);
        command.Parameters.AddWithValue("low", NpgsqlDbType.TimestampTz, (object?)page.LowWater ?? DBNull.Value);
        command.Parameters.AddWithValue("descending", NpgsqlDbType.Boolean, (object?)page.Descending ?? DBNull.Value);
        command.Parameters.AddWithValue("requests", (long)page.Requests);
        command.Parameters.AddWithValue("records", records);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("duplicates", duplicates);
        command.Parameters.AddWithValue("rejects", rejects);
        command.Parameters.AddWithValue("http429", (long)page.Http429);
        command.Parameters.AddWithValue("total", NpgsqlDbType.Bigint, (object?)page.ExpectedTotal ?? DBNull.Value);
        command.Parameters.AddWithValue("job", _jobId);
        command.Parameters.AddWithValue("partition", _partition);
        command.Parameters.AddWithValue("pages", pagesBefore);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException($"The checkpoint of partition {_partition} of job {_jobId} moved under this page.");
        }
    }
}
