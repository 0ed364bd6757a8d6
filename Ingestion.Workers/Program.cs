using Ingestion.Platform.Hosting;
using Ingestion.Workers.Extensions;
using Ingestion.Workers.Jobs;
using Ingestion.Workers.Limits;

// Native memory (the C library's allocator, Arrow's) is set up before the host starts its threads.
var nativeHeap = NativeHeap.Configure();

// Configuration files sit next to the binaries, wherever the process is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddIngestionDefaults();
builder.AddIngestionWorkers();

var app = builder.Build();
app.UseIngestionDefaults();
app.Logger.LogInformation("Native memory: {Settings}", nativeHeap.Count > 0 ? string.Join(", ", nativeHeap) : "as the C library and the environment set it");
var jobs = app.Services.GetRequiredService<WorkerJobs>();
app.Logger.LogInformation("Jobs: runs {Kinds}{Others}", jobs, jobs.RunsAll ? ", every kind" : $" ({WorkerJobs.Setting}); other workers run the rest");
if (NativeHeap.JitSlabCacheWarning() is { } unset)
{
    app.Logger.LogWarning("Native memory: {Warning}", unset);
}

app.Run();
