using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Storage;
using Ingestion.Platform.Tenancy;
using Ingestion.Platform.Webhooks;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Jobs;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// One turn of a sync job (<see cref="RunSync"/>), with the job's lock and a tenant slot held:
/// <list type="number">
/// <item>The source and its dataset are read; the first turn plans the partitions (one, or a time
/// slice each) with their ranges, from the request or the source's watermark.</item>
/// <item>Unfinished partitions are worked at once, as many as the budget's pace times the observed
/// latency keeps busy (at most the source's declared parallelism), each on its own connection.</item>
/// <item>In a partition, the fetcher asks the shared budget (<see cref="RateBudget"/>) before each
/// request and reads the next page while the loader commits the previous one
/// (<see cref="PageLoader"/>: rows and checkpoint in one transaction).</item>
/// <item>The turn ends when every partition is done (<see cref="SyncDone"/>), when the slice's time
/// is up (<see cref="JobOutcome.Continue"/>), or when the budget says wait longer than
/// <see cref="SyncOptions.MaxInlineWait"/> (<see cref="JobOutcome.Later"/>: parked in PostgreSQL).</item>
/// </list>
/// </summary>
public sealed partial class SyncRunner(
    NpgsqlDataSource dataSource,
    SourceCatalog sources,
    DatasetCatalog datasets,
    SourceGuard guard,
    RateBudget budget,
    SourceHttp http,
    ObjectStore store,
    IOptions<SyncOptions> options,
    ILogger<SyncRunner> logger) : IJobStep<RunSync>
{
    /// <summary>How often a turn looks again at how many partitions the budget's pace and the observed latency keep busy.</summary>
    private static readonly TimeSpan ConcurrencyReview = TimeSpan.FromMilliseconds(250);

    /// <summary>Slots let go in a row after which (and every so many more) a partition says so: it keeps asking without sending.</summary>
    private const int SlotsLetGoWarning = 20;

    private readonly SyncOptions _options = options.Value;

    public JobKind Kind => SyncJob.Descriptor;

    public bool RunsOutsideWorkingStates => false;

    public RunSync AtAttempt(RunSync command, int attempt) => command with { Attempt = attempt };

    public string TenantOf(RunSync command) => command.TenantId;

    public Task<JobOutcome> StopAsync(JobRun<RunSync> run, CancellationToken cancellationToken) => Task.FromResult(JobOutcome.Done);

    public async Task<JobOutcome> RunAsync(JobRun<RunSync> run, CancellationToken cancellationToken)
    {
        var command = run.Command;
        try
        {
            return await RunTurnAsync(run, cancellationToken);
        }
        catch (SyncException e)
        {
            LogFailed(command.JobId, command.Source, e.Code, e.Message);
            await ForgetCursorRefusalsAsync(run.Connection, command.JobId, cancellationToken);
            var counts = await SyncPartitions.CountsAsync(run.Connection, command.JobId, 0, cancellationToken);
            await run.Events.Publish(new SyncFailed(command.JobId, e.Code, e.Message, counts, DateTimeOffset.UtcNow, command.Attempt),
                cancellationToken);
            return JobOutcome.Done;
        }
    }

    /// <summary>The attempt ends: a retry counts its refused cursors from zero, not on top of this attempt's.</summary>
    private static async Task ForgetCursorRefusalsAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var reset = new NpgsqlCommand("update ingestion.sync_partitions set cursor_resumes = 0 where job_id = @job", connection);
        reset.Parameters.AddWithValue("job", jobId);
        await reset.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<JobOutcome> RunTurnAsync(JobRun<RunSync> run, CancellationToken cancellationToken)
    {
        var command = run.Command;
        var source = await sources.FindAsync(command.TenantId, command.Source, cancellationToken)
                     ?? throw new SyncException("source_missing", $"The source '{command.Source}' is not registered (any more).");
        if (source.SecretUnreadable)
        {
            throw new SyncException("source_secret_unreadable",
                $"The stored secret of source '{command.Source}' cannot be opened (Sources:SecretKey changed since it was stored); give the source its secret again with PUT /v1/sources/{command.Source}.");
        }

        var definition = source.Definition;

        // Declared through SourceRules, every path parses; one stored otherwise fails the sync by name, not the worker's turn.
        string?[] paths = [definition.Records.Path, definition.Records.TotalPath, definition.Pagination.CursorPath,
            definition.Pagination.NextLinkPath, definition.Pagination.HasMorePath, .. definition.Records.Fields.Values];
        foreach (var path in paths.OfType<string>())
        {
            if (!JsonPath.TryParse(path, out _, out var problem))
            {
                throw new SyncException("source_invalid", $"{problem} Declare the source again with PUT /v1/sources/{command.Source}.");
            }
        }

        var dataset = await datasets.FindAsync(command.TenantId, definition.Dataset, cancellationToken)
                      ?? throw new SyncException("dataset_missing", $"The source's dataset '{definition.Dataset}' does not exist.");
        if (dataset.Key.Count == 0 && string.Equals(command.Mode, "incremental", StringComparison.OrdinalIgnoreCase))
        {
            // The API refuses it; a SubmitSync from the bus (or a schedule declared before the rule) fails here, before any request.
            throw new SyncException("incremental_without_key", SourceRules.KeylessIncremental(dataset.Name));
        }

        var check = await guard.CheckAsync(definition.Request.Url, cancellationToken);
        if (!check.IsAllowed)
        {
            throw new SyncException("source_refused", $"The source's URL {check.Problem}");
        }

        var partitions = await SyncPartitions.ReadAsync(run.Connection, command.JobId, cancellationToken);
        if (partitions.Count == 0)
        {
            var (ranges, advances) = await PlanAsync(run.Connection, command, definition, cancellationToken);
            await RecordMarkAsync(run.Connection, command, advances, cancellationToken);
            await SyncPartitions.PlanAsync(run.Connection, command.JobId, ranges, cancellationToken);
            partitions = await SyncPartitions.ReadAsync(run.Connection, command.JobId, cancellationToken);
            await run.Events.Publish(new SyncStarted(command.JobId, partitions.Count, DateTimeOffset.UtcNow, command.Attempt), cancellationToken);
        }

        using var turn = new Turn(run, source, dataset, check.Addresses, DateTimeOffset.UtcNow + _options.SliceDuration, _options.ProgressInterval);
        var pending = new Queue<SyncPartition>(partitions.Where(p => !p.Finished));
        var active = new List<Task<PartitionEnd>>();
        var ends = new List<PartitionEnd>();

        // One partition's failure stops the others before the step returns: nothing loads once the job's lock is released.
        using var partitionsStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (pending.Count > 0 || active.Count > 0)
            {
                if (partitionsStop.IsCancellationRequested)
                {
                    // Stopping (a cancel, a shutdown): start nothing more and wait for the running partitions
                    // without the tick, whose delay would end at once on the cancelled token and spin.
                    partitionsStop.Token.ThrowIfCancellationRequested();
                }

                while (pending.Count > 0 && active.Count < turn.Concurrency(definition))
                {
                    active.Add(WorkPartitionAsync(turn, pending.Dequeue(), partitionsStop.Token));
                }

                // The pace is judged again as latencies come in, not only when a partition ends: the first
                // guess (before any answer) is low, and a turn whose partitions all last to its end would
                // otherwise keep that guess throughout.
                var tick = Task.Delay(ConcurrencyReview, partitionsStop.Token);
                var ended = await Task.WhenAny(active.Append(tick));
                if (ended == tick)
                {
                    continue;
                }

                var end = (Task<PartitionEnd>)ended;
                active.Remove(end);
                ends.Add(await end);
            }
        }
        catch
        {
            await partitionsStop.CancelAsync();
            await Task.WhenAll(active.Select(t => t.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default)));
            throw;
        }

        await turn.PublishProgressAsync(force: true, cancellationToken);
        LogTurn(command.JobId, turn.Elapsed.TotalSeconds, turn.Seconds(Phase.Budget), turn.Seconds(Phase.Fetch), turn.Seconds(Phase.PageSlot),
            turn.Seconds(Phase.LoaderBusy), turn.Seconds(Phase.Load), turn.Requests, turn.Pacing.LetGoCount, turn.SlotRate);
        LogPacing(command.JobId, turn.Pacing.Summary());
        if (ends.All(e => e.Finished))
        {
            var counts = await SyncPartitions.CountsAsync(run.Connection, command.JobId, turn.BudgetShare, cancellationToken);
            string? rejectsKey = null;
            if (counts.Rejects > 0)
            {
                rejectsKey = await RejectsFile.WriteAsync(run.Connection, store, command.JobId,
                    SyncJob.RejectsKeyFor(command.TenantId, command.JobId), cancellationToken);
            }

            await AdvanceWatermarkAsync(run.Connection, command.JobId, cancellationToken);
            LogDone(command.JobId, command.Source, counts.Records, counts.RowsLoaded, counts.Duplicates, counts.Rejects, counts.ExpectedTotal);
            await run.Events.Publish(new SyncDone(command.JobId, counts, rejectsKey, DateTimeOffset.UtcNow, command.Attempt), cancellationToken);
            return JobOutcome.Done;
        }

        if (ends.All(e => e.Finished || e.ParkedUntil is not null))
        {
            var until = ends.Where(e => e.ParkedUntil is not null).Min(e => e.ParkedUntil!.Value);
            var limit = DateTimeOffset.UtcNow + _options.MaxPark;
            LogParked(command.JobId, command.Source, until);
            return run.ResumeLater(until < limit ? until : limit);
        }

        return JobOutcome.Continue;
    }

    /// <summary>
    /// The time ranges of the partitions: the request's, else (incremental) from the source's
    /// watermark minus the lookback, and a full sync when it has none; a partitioned source splits
    /// the range into its slices. Also whether the job's completion may move the watermark: only when
    /// its range reaches down to the current mark (from the beginning, or a since at or below it).
    /// </summary>
    private static async Task<(IReadOnlyList<(DateTimeOffset? Since, DateTimeOffset? Until)> Ranges, bool Advances)> PlanAsync(
        NpgsqlConnection connection, RunSync command, SourceDefinition source, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var since = command.Since;
        var until = command.Until;
        var watermark = await WatermarkAsync(connection, command.TenantId, command.Source, cancellationToken);
        var contiguous = since is null || (watermark is { } current && since <= current);
        if (since is null && source.Incremental is { } incremental && watermark is { } from
            && string.Equals(command.Mode, "incremental", StringComparison.OrdinalIgnoreCase))
        {
            since = from - TimeSpan.FromSeconds(incremental.LookbackSeconds);
        }

        if (source.Partitions is not { } partitions || source.Incremental is null)
        {
            return ([(since, until)], contiguous);
        }

        var start = since ?? partitions.Start;
        var to = until ?? now;

        // Never more than MaxSlices partitions, whatever range the request gives: the slices widen instead.
        var sliceSeconds = Math.Max(partitions.SliceSeconds, Math.Ceiling((to - start).TotalSeconds / SourceRules.MaxSlices));
        var slices = new List<(DateTimeOffset?, DateTimeOffset?)>();
        for (var slice = start; slice < to; slice = slice.AddSeconds(sliceSeconds))
        {
            var end = slice.AddSeconds(sliceSeconds);
            slices.Add((slice, end < to ? end : to));
        }

        return (slices.Count > 0 ? slices : [(start, to)], contiguous);
    }

    private static async Task<DateTimeOffset?> WatermarkAsync(NpgsqlConnection connection, string tenant, string source,
        CancellationToken cancellationToken)
    {
        await using var read = new NpgsqlCommand(
            "select mark from ingestion.source_watermarks where tenant_id = @tenant and source = @source", connection);
        read.Parameters.AddWithValue("tenant", tenant);
        read.Parameters.AddWithValue("source", source);
        return await read.ExecuteScalarAsync(cancellationToken) is DateTime mark ? new DateTimeOffset(mark, TimeSpan.Zero) : null;
    }

    private static async Task RecordMarkAsync(NpgsqlConnection connection, RunSync command, bool advances, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand("""
            insert into ingestion.sync_marks (job_id, tenant_id, source, advances, until) values (@job, @tenant, @source, @advances, @until)
            on conflict (job_id) do nothing
            """, connection);
        insert.Parameters.AddWithValue("job", command.JobId);
        insert.Parameters.AddWithValue("tenant", command.TenantId);
        insert.Parameters.AddWithValue("source", command.Source);
        insert.Parameters.AddWithValue("advances", advances);
        insert.Parameters.AddWithValue("until", (object?)command.Until ?? DBNull.Value);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The job completed its range: its source's watermark moves up (never down) to the range's
    /// explicit until, else to the newest record time the job committed. Run before SyncDone is
    /// published and idempotent, so a turn that repeats after a lost SyncDone moves it no further.
    /// </summary>
    private static async Task AdvanceWatermarkAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var advance = new NpgsqlCommand("""
            insert into ingestion.source_watermarks (tenant_id, source, mark)
            select m.tenant_id, m.source,
                   coalesce(m.until, (select max(p.high_water) from ingestion.sync_partitions p where p.job_id = m.job_id))
            from ingestion.sync_marks m
            join ingestion.sources s on s.tenant_id = m.tenant_id and s.name = m.source
            where m.job_id = @job and m.advances
              and coalesce(m.until, (select max(p.high_water) from ingestion.sync_partitions p where p.job_id = m.job_id)) is not null
            on conflict (tenant_id, source) do update
                set mark = greatest(ingestion.source_watermarks.mark, excluded.mark), updated_at = now()
            """, connection);
        advance.Parameters.AddWithValue("job", jobId);
        await advance.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<PartitionEnd> WorkPartitionAsync(Turn turn, SyncPartition partition, CancellationToken cancellationToken)
    {
        var command = turn.Run.Command;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var requests = new PageRequests(turn.Source.Definition, turn.Source.Secret);
        var loader = new PageLoader(connection, command.JobId, partition.Index, command.TenantId, turn.Dataset, turn.Source.Definition,
            requests, _options.RejectedRecordBytes, partition.Pages);

        // Two pages at most: the one being loaded, and the next one, asked for once this one's body is read.
        var pages = Channel.CreateBounded<FetchedPage>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var fetcher = Task.Run(() => FetchAsync(turn, partition, requests, pages.Writer, stop.Token), stop.Token);
        try
        {
            await foreach (var page in pages.Reader.ReadAllAsync(cancellationToken))
            {
                using (page)
                {
                    var loading = Stopwatch.StartNew();
                    try
                    {
                        await loader.LoadAsync(page, cancellationToken);
                    }
                    catch (PageBodyException e) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The body broke off: the page was rolled back, and its fetcher asks for it again.
                        page.Failed(e);
                        continue;
                    }
                    catch (Exception e)
                    {
                        page.Failed(e);
                        throw;
                    }

                    turn.Spent(Phase.Load, loading.Elapsed);
                }

                await turn.PublishProgressAsync(force: false, cancellationToken);
                if (await turn.Run.IsCancelledAsync(cancellationToken))
                {
                    await turn.Run.StopAsync();
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }

            var end = await fetcher;
            if (end.Requests > 0)
            {
                await AddUncommittedRequestsAsync(connection, command.JobId, partition.Index, end, cancellationToken);
            }

            return end;
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await fetcher;
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested || fetcher.IsFaulted)
            {
                // The loader's failure (or the cancel) is the one that matters; the fetcher's is its consequence or its twin.
            }

            while (pages.Reader.TryRead(out var unread))
            {
                unread.Dispose();
            }
        }
    }

    /// <summary>
    /// Requests (and 429s) made for a page the partition did not get: counted, though no page commits
    /// them; and the cursors refused since its last committed page, which the next turn goes on counting.
    /// </summary>
    private static async Task AddUncommittedRequestsAsync(NpgsqlConnection connection, Guid jobId, int partition, PartitionEnd end,
        CancellationToken cancellationToken)
    {
        await using var update = new NpgsqlCommand("""
            update ingestion.sync_partitions set requests = requests + @requests, http_429 = http_429 + @http429,
                cursor_resumes = cursor_resumes + @resumes, updated_at = now()
            where job_id = @job and partition = @partition
            """, connection);
        update.Parameters.AddWithValue("resumes", end.CursorResumes);
        update.Parameters.AddWithValue("requests", (long)end.Requests);
        update.Parameters.AddWithValue("http429", (long)end.Http429);
        update.Parameters.AddWithValue("job", jobId);
        update.Parameters.AddWithValue("partition", partition);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Fetches the partition's pages in order into <paramref name="pages"/>, until its last page, the slice's end, or a long
    /// wait: each response goes to the loader as soon as its headers are in, and the next request waits until the loader
    /// has read its body (where the cursor is). A body that breaks off is asked for again like any network failure; its
    /// requests count with the page that gets through.
    /// </summary>
    private async Task<PartitionEnd> FetchAsync(Turn turn, SyncPartition partition, PageRequests requests, ChannelWriter<FetchedPage> pages,
        CancellationToken cancellationToken)
    {
        var position = partition.Position;
        var marks = new Marks(partition.HighWater, partition.LowWater, partition.Descending);
        var resumes = partition.CursorResumes;
        var (carriedRequests, carried429) = (0, 0);
        var brokenBodies = 0;
        try
        {
            while (true)
            {
                if (DateTimeOffset.UtcNow >= turn.Deadline)
                {
                    return PartitionEnd.SliceEnded with { Requests = carriedRequests, Http429 = carried429 };
                }

                var fetched = await FetchPageAsync(turn, requests, position, marks, resumes, cancellationToken);
                if (fetched.Page is not { } page)
                {
                    return fetched.End! with { Requests = fetched.End.Requests + carriedRequests, Http429 = fetched.End.Http429 + carried429 };
                }

                page.Requests += carriedRequests;
                page.Http429 += carried429;
                var handing = Stopwatch.StartNew();
                await pages.WriteAsync(page, cancellationToken);
                PageRead read;
                try
                {
                    read = await page.Read.WaitAsync(cancellationToken);
                }
                catch (PageBodyException e) when (!cancellationToken.IsCancellationRequested)
                {
                    (carriedRequests, carried429) = (page.Requests, page.Http429);
                    if (++brokenBodies >= _options.MaxAttempts)
                    {
                        throw new SyncException("upstream_unreachable",
                            $"{PageRequests.Describe(page.Response.RequestMessage!.RequestUri!)} could not be read {brokenBodies} times: {e.Message}");
                    }

                    await Task.Delay(Backoff(brokenBodies), cancellationToken);
                    continue;
                }

                // The whole round trip, body read: what a partition waits per page, so what sizes how many run at once.
                turn.Spent(Phase.LoaderBusy, handing.Elapsed);
                turn.ObserveLatency(Stopwatch.GetElapsedTime(page.Sent));

                // A page got through: the count of refused cursors in a row starts again.
                (carriedRequests, carried429, brokenBodies, resumes) = (0, 0, 0, 0);
                marks = marks.With(read);
                if (read.After is not { } after)
                {
                    return PartitionEnd.Done;
                }

                position = after;
            }
        }
        finally
        {
            pages.TryComplete();
        }
    }

    private async Task<(FetchedPage? Page, PartitionEnd? End)> FetchPageAsync(Turn turn, PageRequests builder, PagePosition position,
        Marks marks, int resumes, CancellationToken cancellationToken)
    {
        var source = turn.Source;
        var definition = source.Definition;
        var policies = definition.RateLimit.Policies;
        var requests = 0;
        var http429 = 0;
        var failures = 0;
        var startedResumes = resumes;
        var http429InRow = 0;
        var letGoInRow = 0;
        while (true)
        {
            // Retries (429, 5xx) keep to the turn's time like pages do: the turn ends and the partition goes on from its checkpoint.
            if (DateTimeOffset.UtcNow >= turn.Deadline)
            {
                return (null, new PartitionEnd(false, null, requests, http429, resumes - startedResumes));
            }

            var asking = Stopwatch.StartNew();
            var permit = await budget.ReserveAsync(source.BudgetKey, policies, definition.RateLimit.Margin, RateBudget.Lead, cancellationToken);
            if (!permit.Reserved)
            {
                if (permit.Wait > _options.MaxInlineWait)
                {
                    return (null, new PartitionEnd(false, DateTimeOffset.UtcNow + permit.Wait, requests, http429, resumes - startedResumes));
                }

                // Nothing is held meanwhile: ask again once the slot comes within the budget's lead.
                var until = permit.Wait - RateBudget.Lead;
                await Task.Delay(until > RateBudget.MinPace ? until : RateBudget.MinPace, cancellationToken);
                turn.Spent(Phase.Budget, asking.Elapsed);
                continue;
            }

            turn.SlotTaken(permit);
            var verdict = await budget.AwaitSlotAsync(source.BudgetKey, permit, turn.Pacing, cancellationToken);
            turn.Spent(Phase.Budget, asking.Elapsed);
            if (verdict != SlotVerdict.Send)
            {
                // The budget gave the slot back; this partition asks again.
                WarnIfLettingGo(turn, ref letGoInRow);
                continue;
            }

            using var request = builder.Build(position);
            // Next links stay on the source's origin (PageRequests), so the addresses approved for it hold for them too.
            SourceHttp.Approve(request, turn.Approved);
            var clock = Stopwatch.StartNew();
            var sent = Stopwatch.GetTimestamp();
            var window = new SendWindow(permit.Deadline);
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, _options.RequestTimeout, window, cancellationToken);
            }
            catch (Exception e) when (window.Missed && e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                // Woken in time, but the request could not leave by the grant's end (a connection to open first): nothing was sent.
                turn.Pacing.LetGo(SlotVerdict.LateAtSend);
                await budget.ReleaseAsync(source.BudgetKey, permit, cancellationToken);
                WarnIfLettingGo(turn, ref letGoInRow);
                continue;
            }
            catch (Exception e) when (e is HttpRequestException or TimeoutException && !cancellationToken.IsCancellationRequested)
            {
                CountSent(turn, permit, window, ref requests, ref letGoInRow);
                if (++failures >= _options.MaxAttempts)
                {
                    throw new SyncException("upstream_unreachable",
                        $"{PageRequests.Describe(request.RequestUri!)} could not be reached {failures} times: {e.Message}");
                }

                await Task.Delay(Backoff(failures), cancellationToken);
                continue;
            }

            CountSent(turn, permit, window, ref requests, ref letGoInRow);
            var handedOver = false;
            try
            {
                var now = DateTimeOffset.UtcNow;
                var signal = RateHeaders.Read(response.Headers, now);
                var status = (int)response.StatusCode;
                if (status == 429 && signal.BlockedUntil is null)
                {
                    // No word on when: everyone on the credential waits a growing pause rather than asking again at once.
                    signal = signal with { RetryAt = now + Backoff(failures + 1) };
                }

                if (definition.RateLimit.LearnFromHeaders || status == 429)
                {
                    if (await budget.ObserveAsync(source.BudgetKey, policies, signal, now, refused: status == 429, permit.At, cancellationToken))
                    {
                        turn.Pacing.Paused(status == 429 ? PauseCause.Refused : signal.RetryAt is not null ? PauseCause.RetryAfter : PauseCause.SpentRemaining);
                    }
                }

                if (status == 429)
                {
                    http429++;
                    failures++;

                    // An upstream that keeps refusing with short waits would hold this turn: after a few in a row the partition parks.
                    if (++http429InRow >= _options.MaxInline429s)
                    {
                        var retry = signal.BlockedUntil is { } blocked && blocked > now ? blocked : now + Backoff(failures);
                        return (null, new PartitionEnd(false, retry, requests, http429, resumes - startedResumes));
                    }

                    continue;
                }

                http429InRow = 0;

                if (status >= 500)
                {
                    if (++failures >= _options.MaxAttempts)
                    {
                        throw new SyncException("upstream_error",
                            $"{PageRequests.Describe(request.RequestUri!)} answered {status} {response.ReasonPhrase} {failures} times in a row.");
                    }

                    if (signal.RetryAt is null)
                    {
                        await Task.Delay(Backoff(failures), cancellationToken);
                    }

                    continue;
                }

                if (status is 401 or 403)
                {
                    throw new SyncException("upstream_refused",
                        $"{PageRequests.Describe(request.RequestUri!)} refused the credential ({status} {response.ReasonPhrase}); give the source its secret again.");
                }

                if (!response.IsSuccessStatusCode)
                {
                    if (position.Next is not null && status is 400 or 404 or 409 or 410 or 422)
                    {
                        // A stale cursor (or link): start again from what is committed, with since/until, not from the beginning.
                        if (++resumes > _options.MaxCursorResumes)
                        {
                            throw new SyncException("cursor_expired", $"The upstream refused the partition's cursor {resumes} times in a row without a page getting through ({status}).");
                        }

                        if (turn.Dataset.Key.Count == 0)
                        {
                            // Going on from the marks reads the last committed records again, starting over reads them all: only a key recognises them.
                            throw new SyncException("cursor_expired_without_key", SourceRules.KeylessCursorExpired(turn.Dataset.Name, status));
                        }

                        position = marks.ResumeFrom(position, definition);
                        LogCursorRefused(turn.Run.Command.JobId, status, position.Since, position.Until);
                        continue;
                    }

                    throw new SyncException("upstream_error",
                        $"{PageRequests.Describe(request.RequestUri!)} answered {status} {response.ReasonPhrase}.");
                }

                var slotWait = Stopwatch.StartNew();
                var slot = await http.TakePageSlotAsync(cancellationToken);
                turn.Spent(Phase.PageSlot, slotWait.Elapsed);
                PageStream body;
                try
                {
                    body = await http.OpenPageAsync(response, turn.RecordsPath, builder.Watched, _options.RequestTimeout, cancellationToken);
                }
                catch
                {
                    slot.Dispose();
                    throw;
                }

                // The body is the loader's to read, as it arrives.
                turn.Spent(Phase.Fetch, clock.Elapsed);
                handedOver = true;
                return (new FetchedPage(response, body)
                {
                    Slot = slot,
                    Position = position,
                    Requests = requests,
                    Http429 = http429,
                    Sent = sent,
                }, null);
            }
            finally
            {
                if (!handedOver)
                {
                    response.Dispose();
                }
            }
        }
    }

    /// <summary>A request left (or may have: a network failure after its first byte): it counts, and the slots let go in a row start again.</summary>
    private static void CountSent(Turn turn, BudgetSlot slot, SendWindow window, ref int requests, ref int letGoInRow)
    {
        requests++;
        turn.CountRequest();
        letGoInRow = 0;
        var answered = Stopwatch.GetTimestamp();
        turn.Pacing.Sent(window.SentAt != 0 ? window.SentAt : answered, slot.Latest, answered);
    }

    private void WarnIfLettingGo(Turn turn, ref int letGoInRow)
    {
        if (++letGoInRow % SlotsLetGoWarning == 0)
        {
            // Slots let go in a row: this worker keeps waking too late for them, and asks the budget again each time.
            LogSlotsLetGo(turn.Run.Command.JobId, turn.Run.Command.Source, letGoInRow);
        }
    }

    /// <summary>1, 2, 4 … 30 s: the pause after the n-th failure in a row.</summary>
    private static TimeSpan Backoff(int failures) => TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Max(0, failures - 1))));

    [LoggerMessage(LogLevel.Information, "Sync {JobId} of source {Source} done: {Records} records, {Loaded} rows loaded, {Duplicates} duplicates, {Rejects} rejects, the upstream reported {Expected}")]
    private partial void LogDone(Guid jobId, string source, long records, long loaded, long duplicates, long rejects, long? expected);

    [LoggerMessage(LogLevel.Information,
        "Sync {JobId}: turn of {Seconds:0.0} s; summed over its partitions: {Budget:0.0} s asking or waiting for the rate budget, {Fetch:0.0} s fetching pages (of which {Slot:0.0} s waiting for a page slot), {LoaderBusy:0.0} s with a page waiting for its loader, {Load:0.0} s loading; {Requests} requests, {LetGo} budget slots let go (woken too late for them, or a pause asked for), {SlotRate:0.00} slots a second from the first to the last")]
    private partial void LogTurn(Guid jobId, double seconds, double budget, double fetch, double slot, double loaderBusy, double load, long requests, long letGo,
        double slotRate);

    [LoggerMessage(LogLevel.Information, "Sync {JobId}: budget slots of the turn: {Pacing}")]
    private partial void LogPacing(Guid jobId, string pacing);

    [LoggerMessage(LogLevel.Warning, "Sync {JobId} of source {Source} failed: {Code}: {Message}")]
    private partial void LogFailed(Guid jobId, string source, string code, string message);

    [LoggerMessage(LogLevel.Warning, "Sync {JobId} of source {Source} let {Slots} budget slots in a row go unused (woke too late for them, or a pause withdrew them): each was given back, but the partition sends nothing")]
    private partial void LogSlotsLetGo(Guid jobId, string source, int slots);

    [LoggerMessage(LogLevel.Information, "Sync {JobId} of source {Source} waits for its rate budget until {Until:o}: parked")]
    private partial void LogParked(Guid jobId, string source, DateTimeOffset until);

    [LoggerMessage(LogLevel.Information, "Sync {JobId}: the upstream refused a cursor ({Status}); resuming from since {Since:o} until {Until:o}")]
    private partial void LogCursorRefused(Guid jobId, int status, DateTimeOffset? since, DateTimeOffset? until);

    /// <summary>How a partition's work ended in this turn; <paramref name="CursorResumes"/>: refused cursors since its last page.</summary>
    private sealed record PartitionEnd(bool Finished, DateTimeOffset? ParkedUntil, int Requests, int Http429, int CursorResumes = 0)
    {
        public static readonly PartitionEnd Done = new(true, null, 0, 0);
        public static readonly PartitionEnd SliceEnded = new(false, null, 0, 0);
    }

    /// <summary>
    /// The high- and low-water marks of a partition's pages (its incremental column), and which way
    /// its pages run: where a refused cursor resumes from.
    /// </summary>
    private sealed record Marks(DateTimeOffset? High, DateTimeOffset? Low, bool? Descending)
    {
        public Marks With(PageRead page) => new(
            Max(High, page.HighWater), Min(Low, page.LowWater), Descending ?? page.Descending);

        /// <summary>
        /// Newest first: ask again until a second after the oldest record committed (upstreams often
        /// count whole seconds), never past the range's own until; oldest first: from the newest. The
        /// record on the boundary comes again and is merged by its key. With no marks, or pages whose
        /// direction is not known yet (one time per page so far), the partition starts its range again:
        /// guessing newest-first would skip older records of an oldest-first API (the key merges what comes twice).
        /// </summary>
        public PagePosition ResumeFrom(PagePosition position, SourceDefinition source)
        {
            if (source.Incremental is null || High is null || Low is null || Descending is null)
            {
                return position with { Next = null };
            }

            if (Descending == false)
            {
                return position with { Next = null, Since = High };
            }

            var until = Low.Value.AddSeconds(1);
            return position with { Next = null, Until = position.Until is { } bound && bound < until ? bound : until };
        }

        private static DateTimeOffset? Max(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;

        private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;
    }

    /// <summary>Where a partition's time goes, summed over a turn's partitions: what the turn's log line reports.</summary>
    private enum Phase
    {
        Budget,
        Fetch,
        PageSlot,
        LoaderBusy,
        Load,
    }

    /// <summary>How many slots a turn took, and the first and last of them (<see cref="Stopwatch"/> timestamps).</summary>
    private sealed class SlotSpan
    {
        public long Count;
        public long First = long.MaxValue;
        public long Last = long.MinValue;
    }

    /// <summary>What one turn shares between its partitions: the counts it publishes, the pace it observed.</summary>
    private sealed class Turn(JobRun<RunSync> run, StoredSource source, DatasetDefinition dataset, IReadOnlyList<IPAddress>? approved,
        DateTimeOffset deadline, TimeSpan progressInterval) : IDisposable
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly SemaphoreSlim _publishing = new(1, 1);
        private readonly long[] _phaseTicks = new long[Enum.GetValues<Phase>().Length];
        private long _requests;
        private readonly SlotSpan _slotTimes = new();
        private long _latencyTicks = TimeSpan.FromMilliseconds(200).Ticks;
        // Elapsed milliseconds of the last publish; the first comes one interval into the turn (SyncStarted said where it began).
        private long _lastPublished;

        public JobRun<RunSync> Run => run;

        public StoredSource Source => source;

        public DatasetDefinition Dataset => dataset;

        /// <summary>Where a page's records are, parsed once a turn.</summary>
        public JsonPath RecordsPath { get; } = JsonPath.Parse(source.Definition.Records.Path);

        /// <summary>The addresses the guard approved for the source's host this turn; null for an allow-listed host.</summary>
        public IReadOnlyList<IPAddress>? Approved => approved;

        public DateTimeOffset Deadline => deadline;

        /// <summary>Requests this turn made over those the declared policies allowed in its time.</summary>
        public double BudgetShare
        {
            get
            {
                var ceiling = RateBudget.Ceiling(source.Definition.RateLimit.Policies);
                var allowed = ceiling * Math.Max(1, _clock.Elapsed.TotalSeconds);
                return double.IsInfinity(ceiling) ? 0 : Math.Round(Math.Min(1, Interlocked.Read(ref _requests) / allowed), 3);
            }
        }

        public void CountRequest() => Interlocked.Increment(ref _requests);

        public long Requests => Interlocked.Read(ref _requests);

        /// <summary>How the turn's budget slots went: grants, lateness at send, slots let go and why.</summary>
        public PacingLog Pacing { get; } = new(RateBudget.Ceiling(source.Definition.RateLimit.Policies) is var ceiling && double.IsFinite(ceiling)
                ? TimeSpan.FromSeconds(1 / ceiling)
                : TimeSpan.MaxValue / 4,
            source.Definition.RateLimit.Policies.MinBy(p => (double)p.PerSeconds / p.Requests));

        /// <summary>A slot the budget gave (to be used or let go), by when it falls on this worker's clock: what the pace it granted is measured by.</summary>
        public void SlotTaken(BudgetSlot slot)
        {
            Pacing.Granted(slot);
            var at = slot.Latest;
            lock (_slotTimes)
            {
                _slotTimes.Count++;
                _slotTimes.First = Math.Min(_slotTimes.First, at);
                _slotTimes.Last = Math.Max(_slotTimes.Last, at);
            }
        }

        /// <summary>Slots the budget gave a second, from the turn's first slot to its last (0 with fewer than two).</summary>
        public double SlotRate
        {
            get
            {
                lock (_slotTimes)
                {
                    return _slotTimes.Count < 2 ? 0 : (_slotTimes.Count - 1) / Stopwatch.GetElapsedTime(_slotTimes.First, _slotTimes.Last).TotalSeconds;
                }
            }
        }

        public TimeSpan Elapsed => _clock.Elapsed;

        public void Spent(Phase phase, TimeSpan time) => Interlocked.Add(ref _phaseTicks[(int)phase], time.Ticks);

        public double Seconds(Phase phase) => TimeSpan.FromTicks(Interlocked.Read(ref _phaseTicks[(int)phase])).TotalSeconds;

        /// <summary>A moving average of the upstream's answer time.</summary>
        public void ObserveLatency(TimeSpan latency)
        {
            var previous = Interlocked.Read(ref _latencyTicks);
            Interlocked.Exchange(ref _latencyTicks, (previous * 7 + latency.Ticks) / 8);
        }

        /// <summary>
        /// Partitions worked at once: enough to keep the budget's pace busy while each waits its latency
        /// for a page (pace × latency, with a quarter more for latency that varies page to page, plus one
        /// asking the budget), never more than the source declares. A partition too many only waits its
        /// turn at the budget; one too few leaves permits unused.
        /// </summary>
        public int Concurrency(SourceDefinition definition)
        {
            var declared = definition.Partitions?.Parallelism ?? 1;
            var ceiling = RateBudget.Ceiling(definition.RateLimit.Policies);
            var latency = TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks)).TotalSeconds;
            var needed = double.IsInfinity(ceiling) ? declared : (int)Math.Ceiling(ceiling * latency * 1.25) + 1;
            return Math.Clamp(needed, 1, Math.Max(1, declared));
        }

        public void Dispose() => _publishing.Dispose();

        public async Task PublishProgressAsync(bool force, CancellationToken cancellationToken)
        {
            var now = _clock.ElapsedMilliseconds;
            if (!force && now - Interlocked.Read(ref _lastPublished) < (long)progressInterval.TotalMilliseconds)
            {
                return;
            }

            if (!await _publishing.WaitAsync(0, cancellationToken))
            {
                return;
            }

            try
            {
                Interlocked.Exchange(ref _lastPublished, now);
                var counts = await SyncPartitions.CountsAsync(run.Connection, run.Command.JobId, BudgetShare, cancellationToken);
                await run.Events.Publish(new SyncProgressed(run.Command.JobId, counts, DateTimeOffset.UtcNow, run.Command.Attempt),
                    cancellationToken);
            }
            finally
            {
                _publishing.Release();
            }
        }
    }
}
