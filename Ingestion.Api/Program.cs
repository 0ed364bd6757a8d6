using Ingestion.Api.Extensions;
using Ingestion.Platform.Hosting;

// Configuration files sit next to the binaries, wherever the process is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddIngestionDefaults();
builder.AddIngestionApi();

var app = builder.Build();
app.UseIngestionDefaults();
app.MapIngestionApi();
app.Run();
