using Ingestion.Api.Accounts;
using Ingestion.Api.Console;
using Ingestion.Api.Datasets;
using Ingestion.Api.Statements;
using Ingestion.Api.Syncs;
using Ingestion.Api.Indexes;
using Ingestion.Platform.Statements;
using Ingestion.Api.Hosting;
using Microsoft.AspNetCore.Connections;
using Ingestion.Api.Jobs;
using Ingestion.Api.Ops;
using Ingestion.Api.Progress;
using Ingestion.Api.Reads;
using Ingestion.Api.Security;
using Ingestion.Api.Sources;
using Ingestion.Api.Uploads;
using Ingestion.Api.Webhooks;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Webhooks;

namespace Ingestion.Api.Extensions;

public static class ApiExtensions
{
    /// <summary>API keys, the upload intake, the job store, the callback URL guard and the bus the outbox relays to.</summary>
    public static WebApplicationBuilder AddIngestionApi(this WebApplicationBuilder builder)
    {
        builder.AddIngestionSecurity();
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>, LargeReadBuffersFactory>();
        builder.Services.AddValidatedOptions<UploadOptions>(UploadOptions.Section);
        builder.Services.AddSingleton<UploadIntake>();
        builder.Services.AddSingleton<JobStore>();
        builder.Services.AddSingleton<JobHistory>();
        builder.Services.AddSingleton<JobFeed>();
        builder.Services.AddJobViews();
        builder.Services.AddValidatedOptions<ProgressOptions>(ProgressOptions.Section);
        builder.Services.AddSingleton<AccountDocuments>();
        builder.Services.AddSingleton<AttachmentChecks>();
        builder.AddIngestionWebhooks();
        builder.Services.AddOpenApi(options => options.AddJobViewSchema().AddProblemResponses());
        builder.Services.AddHostedService<ServiceGauges>();
        builder.AddIngestionBus(bus =>
            // Every instance hears every job change on a queue of its own that goes with it.
            bus.AddConsumer<JobChangedConsumer>().Endpoint(endpoint =>
            {
                endpoint.Temporary = true;
                endpoint.InstanceId = Guid.NewGuid().ToString("N");
                endpoint.PrefetchCount = 512;
            }));
        builder.AddIngestionOps();
        builder.AddIngestionReads();
        builder.AddIngestionConsole();
        return builder;
    }

    public static WebApplication MapIngestionApi(this WebApplication app)
    {
        app.UseIngestionConsole();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseCsrfProtection();
        app.MapOpenApi().AllowAnonymous();
        app.MapDatasetsApi();
        app.MapUploadsApi();
        app.MapJobsApi();
        app.MapJobStream();
        app.MapStatementsApi();
        app.MapSyncsApi();
        app.MapAccountDocumentsApi();
        app.MapWebhooksApi();
        app.MapOpsApi();
        app.MapReadsApi();
        app.MapSourcesApi();
        app.MapIndexesApi();
        app.MapIngestionConsole();
        return app;
    }
}
