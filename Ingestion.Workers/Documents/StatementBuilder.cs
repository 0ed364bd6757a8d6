using System.Diagnostics;
using System.IO.Compression;
using Ingestion.Contracts.Statements;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Statements;
using Ingestion.Platform.Storage;
using Ingestion.Platform.Tenancy;
using Ingestion.Workers.Jobs;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;
using PdfSharp.Pdf;

namespace Ingestion.Workers.Documents;

/// <summary>
/// Renders a statement into S3. The lines are read by one streamed query while pages are
/// drawn; each volume (see <see cref="StatementPlan"/>) is a PDFsharp document that lives
/// only until it is saved, straight into an S3 multipart upload: one PDF, or the entries of
/// a ZIP when there are several volumes. Nothing holds the whole statement. It runs as the step of
/// <see cref="JobWorker"/>, which holds the job's lock and its tenant's slot around it.
/// </summary>
public sealed partial class StatementBuilder(
    ObjectStore store,
    IOptions<StatementOptions> options,
    ILogger<StatementBuilder> logger) : IJobStep<RenderStatement>
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);
    private readonly StatementOptions _options = options.Value;

    public JobKind Kind => StatementJob.Descriptor;

    /// <summary>Only a job waiting for its document is rendered: not again when a duplicate arrives after it is ready (or failed, until it is retried).</summary>
    public bool RunsOutsideWorkingStates => false;

    public RenderStatement AtAttempt(RenderStatement command, int attempt) => command with { Attempt = attempt };

    public string TenantOf(RenderStatement command) => command.TenantId;

    /// <summary>A cancel seen at a progress tick stops the rendering (<see cref="JobRun{TCommand}.StopAsync"/>); the unfinished upload to S3 is aborted.</summary>
    public async Task<JobOutcome> RunAsync(JobRun<RenderStatement> run, CancellationToken cancellationToken)
    {
        await BuildLockedAsync(run.Connection, run.Command, run.Events, new Progress(run), cancellationToken);
        return JobOutcome.Done;
    }

    /// <summary>A statement cancelled before it was rendered has nothing to say: the cancel ended it.</summary>
    public Task<JobOutcome> StopAsync(JobRun<RenderStatement> run, CancellationToken cancellationToken)
    {
        LogNotRendering(run.Command.JobId);
        return Task.FromResult(JobOutcome.Done);
    }

    /// <summary>Where a statement is stored, and the name it is downloaded under.</summary>
    public static string KeyFor(RenderStatement job, bool volumes) =>
        $"documents/{job.TenantId}/{job.JobId:N}/statement-{job.AccountId}-{job.From:yyyyMMdd}-{job.To:yyyyMMdd}.{(volumes ? "zip" : "pdf")}";

    private async Task BuildLockedAsync(NpgsqlConnection connection, RenderStatement job, IPublishEndpoint events,
        Progress progress, CancellationToken cancellationToken)
    {
        if (!await HasTransactionsAsync(connection, job.TenantId, cancellationToken))
        {
            await FailAsync(events, job, "unknown_tenant", $"Tenant '{job.TenantId}' has no transactions dataset.", cancellationToken);
            return;
        }

        await using var data = await StatementData.OpenAsync(connection, job.TenantId, job.AccountId, job.From, job.To, cancellationToken);
        var summary = await data.SummaryAsync(cancellationToken);
        var categories = await data.CategoriesAsync(cancellationToken);
        var merchants = await data.MerchantsAsync(cancellationToken);
        var months = await data.MonthsAsync(cancellationToken);
        var attachments = await data.AttachmentsAsync(cancellationToken);
        var plan = StatementPlan.Make(summary.Sum(s => s.Lines), attachments, _options.VolumeMemoryBudgetBytes, _options.LinePageBytes);
        var started = DateTimeOffset.UtcNow;
        await events.Publish(new StatementRenderingStarted(job.JobId, plan.Lines, plan.Pages, plan.Volumes.Count, started, job.Attempt), cancellationToken);

        var layout = new StatementLayout(new StatementHeading(job.AccountId, job.From, job.To, started, plan.Volumes.Count));
        var pages = new StatementPages(layout);
        var multiple = plan.Volumes.Count > 1;
        var key = KeyFor(job, multiple);
        var balances = summary.ToDictionary(s => s.Currency, s => s.Opening);

        await using var target = store.OpenWrite(key, multiple ? "application/zip" : "application/pdf");
        using (var zip = multiple ? new ZipArchive(target, ZipArchiveMode.Create, leaveOpen: true) : null)
        await using (var lines = await data.OpenLinesAsync(cancellationToken))
        {
            var batch = new List<StatementLine>(StatementLayout.LinesPerPage);
            foreach (var volume in plan.Volumes)
            {
                using var document = NewDocument(job, volume, plan);
                var page = 1;
                if (volume.Front)
                {
                    pages.Cover(document, page++, volume.Pages, summary, plan, attachments);
                    pages.Categories(document, page++, volume.Pages, categories, merchants);
                    pages.Months(document, page++, volume.Pages, months, summary.FirstOrDefault()?.Currency);
                    await progress.PageAsync(0, StatementLayout.FrontPages, cancellationToken);
                }

                for (var i = 0; i < volume.LinePages; i++)
                {
                    batch.Clear();
                    while (batch.Count < StatementLayout.LinesPerPage && await lines.ReadAsync(cancellationToken))
                    {
                        batch.Add(StatementData.Line(lines));
                    }

                    pages.Lines(document, page++, volume.Pages, volume.Number, batch, balances);
                    await progress.PageAsync(batch.Count, 1, cancellationToken);
                }

                foreach (var attachment in volume.Attachments)
                {
                    using var imported = await OpenAttachmentAsync(attachment, cancellationToken);
                    if (imported is null)
                    {
                        await FailAsync(events, job, "attachment_unreadable",
                            $"The attached document '{attachment.FileName}' ({attachment.DocumentId}) cannot be read as a PDF any more.",
                            cancellationToken);
                        return;
                    }

                    var added = pages.Attachment(document, imported, attachment.FileName, page, volume.Pages);
                    page += added;
                    await progress.PageAsync(0, added, cancellationToken);
                }

                if (zip is null)
                {
                    await document.SaveAsync(target, false);
                }
                else
                {
                    var entry = zip.CreateEntry(Path.ChangeExtension(Path.GetFileName(key), null) + $"-volume-{volume.Number}-of-{plan.Volumes.Count}.pdf",
                        CompressionLevel.NoCompression);
                    await using var entryStream = await entry.OpenAsync(cancellationToken);
                    await document.SaveAsync(entryStream, false);
                }
            }
        }

        var bytes = await target.CompleteAsync(cancellationToken);
        var completed = DateTimeOffset.UtcNow;
        LogReady(job.JobId, plan.Lines, plan.Pages, plan.Volumes.Count, bytes);
        await events.Publish(new StatementReady(job.JobId, key, multiple ? "application/zip" : "application/pdf", bytes,
            plan.Lines, plan.Pages, plan.Volumes.Count, completed, completed + _options.DocumentRetention, job.Attempt), cancellationToken);
    }

    private PdfDocument NewDocument(RenderStatement job, VolumePlan volume, StatementPlan plan)
    {
        var document = new PdfDocument();
        document.Info.Title = plan.Volumes.Count == 1
            ? $"Statement of account {job.AccountId}, {job.From:yyyy-MM-dd} to {job.To:yyyy-MM-dd}"
            : $"Statement of account {job.AccountId}, {job.From:yyyy-MM-dd} to {job.To:yyyy-MM-dd}, volume {volume.Number} of {plan.Volumes.Count}";
        document.Info.Creator = "Ingestion";
        document.Options.CompressContentStreams = _options.CompressContent;
        document.Options.NoCompression = !_options.CompressContent;

        // Statement pages are repetitive text: the fastest Flate level already shrinks them
        // about eight times, and costs a fraction of the default level's CPU.
        document.Options.FlateEncodeMode = PdfFlateEncodeMode.BestSpeed;
        return document;
    }

    /// <summary>An attachment is at most Statements:MaxAttachmentBytes, so it is read whole: PDFsharp needs to seek.</summary>
    private async Task<PdfDocument?> OpenAttachmentAsync(Attachment attachment, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream((int)attachment.Bytes);
        await using (var source = await store.OpenReadAsync(store.Bucket, attachment.Key, 0, null, cancellationToken))
        {
            await source.CopyToAsync(buffer, cancellationToken);
        }

        buffer.Position = 0;
        var document = PdfFiles.TryOpenForImport(buffer, out var problem);
        if (document is null)
        {
            logger.LogWarning("Attachment {DocumentId} cannot be opened: {Problem}", attachment.DocumentId, problem);
        }

        return document;
    }

    private static async Task<bool> HasTransactionsAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        if (!Platform.Datasets.Identifier.IsValid(tenantId, Platform.Datasets.Identifier.MaxTenantLength))
        {
            return false;
        }

        await using var command = new NpgsqlCommand("select to_regclass(@table) is not null", connection);
        command.Parameters.AddWithValue("table", TenantSchema.QualifiedTable(tenantId, "transactions"));
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task FailAsync(IPublishEndpoint events, RenderStatement job, string code, string message, CancellationToken cancellationToken)
    {
        LogFailed(job.JobId, code, message);
        await events.Publish(new StatementFailed(job.JobId, code, message, DateTimeOffset.UtcNow, job.Attempt), cancellationToken);
    }

    /// <summary>Counts what is drawn and says so a few times a second; then also asks whether the job was cancelled.</summary>
    private sealed class Progress(JobRun<RenderStatement> run)
    {
        private readonly Stopwatch _since = Stopwatch.StartNew();
        private long _lines;
        private int _pages;

        public async Task PageAsync(int lines, int pages, CancellationToken cancellationToken)
        {
            _lines += lines;
            _pages += pages;
            if (_since.Elapsed >= ProgressInterval)
            {
                if (await run.IsCancelledAsync(cancellationToken))
                {
                    await run.StopAsync();
                    cancellationToken.ThrowIfCancellationRequested();
                }

                await run.Events.Publish(new StatementProgressed(run.Command.JobId, _lines, _pages, DateTimeOffset.UtcNow, run.Command.Attempt),
                    cancellationToken);
                _since.Restart();
            }
        }
    }

    [LoggerMessage(LogLevel.Information, "Statement {JobId} ready: {Lines} lines, {Pages} pages in {Volumes} volume(s), {Bytes} bytes")]
    private partial void LogReady(Guid jobId, long lines, int pages, int volumes, long bytes);

    [LoggerMessage(LogLevel.Information, "Statement {JobId} was cancelled before it was rendered: this message renders nothing")]
    private partial void LogNotRendering(Guid jobId);

    [LoggerMessage(LogLevel.Warning, "Statement {JobId} failed ({Code}): {Message}")]
    private partial void LogFailed(Guid jobId, string code, string message);
}
