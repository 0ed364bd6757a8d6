using System.Diagnostics;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Tenancy;
using Ingestion.Workers.Copy;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// A page as fetched: its response, headers read and body not yet, waiting for its loader to stream the body into the
/// table. The loader says what the body said (<see cref="Read"/>) as soon as it has read it to its end, before it commits:
/// the partition's fetcher asks for the next page meanwhile.
/// </summary>
internal sealed class FetchedPage(HttpResponseMessage response, PageStream body) : IDisposable
{
    private readonly TaskCompletionSource<PageRead> _read = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public HttpResponseMessage Response => response;

    public PageStream Body => body;

    public required PagePosition Position { get; init; }

    /// <summary>Requests made for this page, refused ones and retries included (those of a body that broke off too).</summary>
    public int Requests { get; set; }

    public int Http429 { get; set; }

    /// <summary>When its request was sent (a <see cref="Stopwatch"/> timestamp).</summary>
    public long Sent { get; init; }

    /// <summary>The worker's page slot this page holds until it is loaded (<see cref="SourceHttp.TakePageSlotAsync"/>).</summary>
    public IDisposable? Slot { get; init; }

    /// <summary>What the body said once read to its end; faulted when it could not be (a <see cref="PageBodyException"/> is asked again).</summary>
    public Task<PageRead> Read => _read.Task;

    public void BodyRead(PageRead read) => _read.TrySetResult(read);

    public void Failed(Exception exception) => _read.TrySetException(exception);

    public void Dispose()
    {
        _read.TrySetCanceled();
        body.Dispose();
        response.Dispose();
        Slot?.Dispose();
    }
}

/// <summary>What a page's body said, read to its end.</summary>
/// <param name="After">Where the partition goes on from; null when this page was its last.</param>
internal sealed record PageRead(PagePosition? After, long? ExpectedTotal, long Records, DateTimeOffset? HighWater, DateTimeOffset? LowWater,
    bool? Descending);

/// <summary>
/// The high- and low-water marks of a page's records (its incremental column), and which way they run, from the first
/// record that has a time to the last: the direction is known once two differ.
/// </summary>
internal sealed class RecordMarks(JsonPath? path)
{
    private DateTimeOffset? _first;
    private DateTimeOffset? _last;

    public DateTimeOffset? High { get; private set; }

    public DateTimeOffset? Low { get; private set; }

    public bool? Descending => _first is null || _first == _last ? null : _first > _last;

    public void Add(JsonElement record)
    {
        if (path is not null && path.TrySelect(record, out var value) && RecordTimes.TryRead(value, out var time))
        {
            _first ??= time;
            _last = time;
            High = High is null || time > High ? time : High;
            Low = Low is null || time < Low ? time : Low;
        }
    }
}

/// <summary>What one committed page added.</summary>
internal readonly record struct PageLoad(long Records, long Loaded, long Duplicates, long Rejects);

/// <summary>
/// Loads one page and moves its partition's checkpoint, in one transaction: the records stream from the page's body
/// (<see cref="PageStream"/>) through binary COPY — into the table for a dataset without a key, otherwise into a staging
/// table that is then inserted into the table, or, when a key collides, merged by the dataset's key (<c>reject</c> keeps
/// the row already there and counts the record as a duplicate, <c>upsert</c> replaces it) — the bad ones with their raw
/// JSON and the reason into the job's rejects, and the checkpoint moves past the page, fenced on the page count this
/// loader's runner started from and has committed since (not the count it reads in the same transaction, which fences
/// nothing): a second runner of the same partition that committed a page in between makes this one stop instead of
/// committing its page on top. A body that breaks off or turns out not to be JSON, even after its last record, rolls
/// the transaction back: a page loads whole or not at all. A crash before the commit leaves neither the rows nor the
/// checkpoint; after it, both. That is where exactly-once is kept. One loader per partition connection: its staging
/// table lives in that session.
/// </summary>
internal sealed class PageLoader
{
    private const string Stage = "sync_stage";

    /// <summary>The per-job lock that keeps the duplicate keys' bound exact, taken only while the job's list has room.</summary>
    private const string LockDuplicatesSql = """
        select pg_advisory_xact_lock(hashtextextended('ingestion.sync-duplicates:' || @job::text, 0))
        where (select count(*) from ingestion.sync_duplicate_keys where job_id = @job) < @max
        """;

    private readonly NpgsqlConnection _connection;
    private readonly Guid _jobId;
    private readonly int _partition;
    private readonly RecordMapper _mapper;
    private readonly PageRequests _requests;
    private readonly JsonPath? _markPath;
    private readonly int _rejectedRecordBytes;
    private readonly string _createStageSql;
    private readonly string _stageCopySql;
    private readonly string _copySql;
    private readonly string _insertSql;
    private readonly string _mergeSql;
    private readonly IReadOnlyList<string> _keyColumns;
    private bool _staged;

    /// <summary>The partition's page count as this runner expects it: read at the turn's start, one more with each page it commits.</summary>
    private long _pages;

    /// <summary>Distinct accounts of a page's rows (transactions only): at most one entry per record of a page.</summary>
    private readonly HashSet<long> _accounts = [];
    private readonly string _tenantId;
    private readonly string _dataset;

    /// <param name="requests">Reads where the partition goes on from out of each page's body and headers.</param>
    public PageLoader(NpgsqlConnection connection, Guid jobId, int partition, string tenantId, DatasetDefinition dataset,
        SourceDefinition source, PageRequests requests, int rejectedRecordBytes, long pagesCommitted)
    {
        _pages = pagesCommitted;
        _connection = connection;
        _jobId = jobId;
        _partition = partition;
        _requests = requests;
        _rejectedRecordBytes = rejectedRecordBytes;
        _tenantId = tenantId;
        _dataset = dataset.Name;
        _mapper = new RecordMapper(dataset, source.Records, source.Incremental?.Column);
        _markPath = source.Incremental is { } incremental && source.Records.Fields.TryGetValue(incremental.Column, out var mark)
            ? JsonPath.Parse(mark)
            : null;
        var table = TenantSchema.QualifiedTable(tenantId, dataset.Name);
        var columns = _mapper.ColumnNames.Select(Identifier.Quote).ToList();
        var list = string.Join(", ", columns);
        var keys = dataset.Key.Select(Identifier.Quote).ToList();
        var keyList = string.Join(", ", keys);
        _keyColumns = dataset.Key;
        _createStageSql = $"create temp table if not exists {Stage} (like {table}, __ordinal bigint not null) on commit delete rows";
        _stageCopySql = $"copy {Stage} ({list}, __ordinal) from stdin (format binary)";
        _copySql = $"copy {table} ({list}) from stdin (format binary)";
        _insertSql = $"insert into {table} ({list}) select {list} from {Stage}";

        var updates = _mapper.ColumnNames.Where(c => !dataset.Key.Contains(c))
            .Select(c => $"{Identifier.Quote(c)} = excluded.{Identifier.Quote(c)}").ToList();
        var conflict = dataset.OnKeyConflict == KeyConflictPolicy.Upsert && updates.Count > 0
            ? $"on conflict ({keyList}) do update set {string.Join(", ", updates)}"
            : $"on conflict ({keyList}) do nothing";

        // Within a page, the first record of a key stays (reject) or the last one wins (upsert).
        var keep = dataset.OnKeyConflict == KeyConflictPolicy.Upsert ? "desc" : "asc";
        _mergeSql = keys.Count == 0 ? "" : MergeSql(table, list, keys, conflict, keep);
    }

    public async Task<PageLoad> LoadAsync(FetchedPage page, CancellationToken cancellationToken)
    {
        var keyed = _keyColumns.Count > 0;
        if (keyed && !_staged)
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
        _accounts.Clear();
        var marks = new RecordMarks(_markPath);
        var written = await CopyAsync(keyed ? _stageCopySql : _copySql, page.Body, checkpoint.Records, rejects, marks, cancellationToken);

        // The body is read to its end: the fetcher may ask for the next page while this one commits.
        var records = page.Body.Count;
        var following = _requests.Follow(page.Position, page.Body, page.Response, (int)records);
        var read = new PageRead(following.Next is null ? null : page.Position with { Next = following.Next }, following.ExpectedTotal,
            records, marks.High, marks.Low, marks.Descending);
        page.BodyRead(read);

        long loaded = written, changed = written, duplicates = 0;
        if (keyed && written > 0)
        {
            // Fast path: while no key collides (the usual page), the staged rows go straight into the table. A collision
            // undoes only this statement (a savepoint) and the staged rows are merged by key instead.
            await transaction.SaveAsync("page", cancellationToken);
            try
            {
                await using var insert = new NpgsqlCommand(_insertSql, _connection, transaction);
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                await transaction.RollbackAsync("page", cancellationToken);
                (loaded, changed) = await MergeAsync(transaction, cancellationToken);
                duplicates = written - loaded;
            }
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

        await MoveCheckpointAsync(page, read, _pages, records, loaded, duplicates, rejects.Count, cancellationToken);
        if (changed > 0)
        {
            // Last before commit: readers' ETags move with the rows (the read API's change counters), also when an upsert only
            // updated rows (none inserted, the size unchanged) and what a reader sees changed all the same.
            await DatasetChanges.BumpAsync(_connection, transaction, _tenantId, _dataset, loaded,
                _mapper.AccountSlot >= 0 ? _accounts : null, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        _pages++;
        return new PageLoad(records, loaded, duplicates, rejects.Count);
    }

    /// <summary>
    /// Reads the page's records as they arrive, checks each and writes the good ones through <paramref name="copySql"/>
    /// (the table, or the staging table with each row's ordinal); the bad ones are collected with their raw JSON.
    /// </summary>
    private async Task<long> CopyAsync(string copySql, PageStream body, long recordsBefore,
        List<(long Ordinal, string Column, string Reason, byte[] Raw)> rejects, RecordMarks marks, CancellationToken cancellationToken)
    {
        var staging = ReferenceEquals(copySql, _stageCopySql);
        var ordinal = recordsBefore;
        var written = 0L;
        await using var importer = await _connection.BeginBinaryImportAsync(copySql, cancellationToken);
        while (await body.ReadAsync(cancellationToken))
        {
            ordinal++;
            var record = body.Record;
            marks.Add(record);
            if (_mapper.Check(record) is { } problem)
            {
                rejects.Add((ordinal, problem.Column, problem.Reason, RejectedRecord.Keep(body.Raw, _rejectedRecordBytes)));
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
    /// Merges the staged rows by key (one per key: the first for <c>reject</c>, the last for <c>upsert</c>) and, in the
    /// same statement, records the keys behind the duplicates (<see cref="SyncDuplicates"/>), grouped by key with their
    /// places: a record is a duplicate when an earlier record of the page had its key, or when the merge did not insert
    /// its key — whoever loaded it, before this page or a partition committing it meanwhile (the merge waits for that
    /// one and sees it; a check before the merge would not). A key the job recorded counts on; a new one is kept while
    /// the job has fewer than <see cref="SyncDuplicates.MaxKeys"/>.
    /// </summary>
    private static string MergeSql(string table, string list, IReadOnlyList<string> keys, string conflict, string keep)
    {
        var keyList = string.Join(", ", keys);
        var staged = string.Join(", ", keys.Select(k => $"s.{k}"));
        var json = string.Join(", ", keys.Select((k, i) => $"@k{i}, s.{k}"));
        var same = string.Join(" and ", keys.Select(k => $"m.{k} = s.{k}"));
        return $"""
            with merged as (
                insert into {table} ({list})
                select {list} from (select distinct on ({keyList}) * from {Stage} order by {keyList}, __ordinal {keep}) s
                {conflict}
                returning {keyList}, (xmax = 0) as inserted
            ), seen as (
                select jsonb_build_object({json}) as key, s.__ordinal as record,
                       row_number() over (partition by {staged} order by s.__ordinal) as nth,
                       not exists (select 1 from merged m where {same} and m.inserted) as loaded
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
            ), recorded as (
                insert into ingestion.sync_duplicate_keys as k (job_id, key, times, places, first_place)
                select @job, key, times, places, @base + first from again a
                where a.key in (select key from fresh)
                   or exists (select 1 from ingestion.sync_duplicate_keys k where k.job_id = @job and k.key = a.key)
                on conflict (job_id, key) do update set
                    times = k.times + excluded.times,
                    places = (select jsonb_agg(p order by o) from jsonb_array_elements(k.places || excluded.places) with ordinality e(p, o)
                              where o <= @places)
            )
            select count(*) filter (where inserted), count(*) from merged
            """;
    }

    /// <summary>
    /// Merges a page whose keys collided and records its duplicates' keys; returns the rows it inserted. The lock per job
    /// keeps the <see cref="SyncDuplicates.MaxKeys"/> bound exact when partitions commit at once; only pages with a
    /// colliding key take it, and only while the job's list has room: once full, no key is added, and the counts of
    /// those recorded stay exact without it (each is one row, updated under its row lock). Also returns the rows it
    /// changed, inserted or updated (an upsert), which move the dataset's ETag.
    /// </summary>
    private async Task<(long Loaded, long Changed)> MergeAsync(NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using (var lockList = new NpgsqlCommand(LockDuplicatesSql, _connection, transaction))
        {
            lockList.Parameters.AddWithValue("job", _jobId);
            lockList.Parameters.AddWithValue("max", (long)SyncDuplicates.MaxKeys);
            await lockList.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var merge = new NpgsqlCommand(_mergeSql, _connection, transaction);
        merge.Parameters.AddWithValue("job", _jobId);
        merge.Parameters.AddWithValue("partition", _partition);
        merge.Parameters.AddWithValue("page", _pages + 1);
        merge.Parameters.AddWithValue("places", SyncDuplicates.MaxPlaces);
        merge.Parameters.AddWithValue("max", (long)SyncDuplicates.MaxKeys);
        merge.Parameters.AddWithValue("base", RejectLine(0));
        for (var i = 0; i < _keyColumns.Count; i++)
        {
            merge.Parameters.AddWithValue($"k{i}", _keyColumns[i]);
        }

        await using var reader = await merge.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
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

    private async Task MoveCheckpointAsync(FetchedPage page, PageRead read, long pagesBefore, long records, long loaded, long duplicates,
        long rejects, CancellationToken cancellationToken)
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
        var after = read.After ?? page.Position;
        command.Parameters.AddWithValue("next", (object?)read.After?.Next ?? DBNull.Value);
        command.Parameters.AddWithValue("since", (object?)after.Since ?? DBNull.Value);
        command.Parameters.AddWithValue("until", (object?)after.Until ?? DBNull.Value);
        command.Parameters.AddWithValue("finished", read.After is null);
        command.Parameters.AddWithValue("high", NpgsqlDbType.TimestampTz, (object?)read.HighWater ?? DBNull.Value);
        command.Parameters.AddWithValue("low", NpgsqlDbType.TimestampTz, (object?)read.LowWater ?? DBNull.Value);
        command.Parameters.AddWithValue("descending", NpgsqlDbType.Boolean, (object?)read.Descending ?? DBNull.Value);
        command.Parameters.AddWithValue("requests", (long)page.Requests);
        command.Parameters.AddWithValue("records", records);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("duplicates", duplicates);
        command.Parameters.AddWithValue("rejects", rejects);
        command.Parameters.AddWithValue("http429", (long)page.Http429);
        command.Parameters.AddWithValue("total", NpgsqlDbType.Bigint, (object?)read.ExpectedTotal ?? DBNull.Value);
        command.Parameters.AddWithValue("job", _jobId);
        command.Parameters.AddWithValue("partition", _partition);
        command.Parameters.AddWithValue("pages", pagesBefore);
        if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
        {
            throw new InvalidOperationException($"The checkpoint of partition {_partition} of job {_jobId} moved under this page.");
        }
    }
}
