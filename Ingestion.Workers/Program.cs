using Ingestion.Platform.Hosting;
using Ingestion.Workers.Extensions;

// Configuration files sit next to the binaries, wherever the process is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddIngestionDefaults();
builder.AddIngestionWorkers();

var app = builder.Build();
app.UseIngestionDefaults();
app.Run();
