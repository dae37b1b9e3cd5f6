// The page at GET /: ask (the answer streams in), source cards, upload, list and delete documents.
// Everything is in this one page: no external script, style sheet or font.
#include <string>

#include "server/site.h"

namespace sieve::server {

const std::string& WebPage() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sieve</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;gap:16px;align-items:center}
header h1{font-size:20px;margin:0}header input{margin-left:auto;width:220px}
main{display:grid;grid-template-columns:2fr 1fr;gap:24px;padding:24px;max-width:1300px;margin:auto}
section{background:#fff;border-radius:8px;padding:16px;box-shadow:0 1px 3px #0002}
textarea,input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;font:inherit}
button{padding:6px 14px;font:inherit;cursor:pointer}
#answer{white-space:pre-wrap;line-height:1.5;min-height:2em;margin:12px 0}
.card{border:1px solid #d8dce3;border-radius:6px;padding:10px;margin:8px 0}
.card h3{margin:0 0 4px;font-size:15px}.meta{color:#5a6275;font-size:13px}
.scores{font-family:monospace;font-size:12px;color:#364;margin:4px 0}
.text{font-size:14px;white-space:pre-wrap}mark{background:#fde58a}
.cite{color:#2450c8;font-weight:600}
table{width:100%;border-collapse:collapse;font-size:14px}td{border-top:1px solid #e3e6ea;padding:4px}
.err{color:#b00020}
</style></head><body>
<header><h1>Sieve</h1><span>answers with citations</span>
<input id="key" type="password" placeholder="API key (optional)"></header>
<main>
<section>
<form id="ask"><textarea id="q" rows="2" placeholder="Ask a question about your documents"></textarea>
<p><button type="submit" id="go">Ask</button> <span id="status" class="meta"></span></p></form>
<div id="answer"></div><div id="notes" class="meta"></div><div id="sources"></div>
</section>
<section>
<h2>Documents</h2>
<form id="upload"><input type="file" id="files" multiple>
<input type="text" id="tags" placeholder="tags, comma separated">
<p><button type="submit">Upload</button> <span id="upstatus" class="meta"></span></p></form>
<table id="docs"><tbody></tbody></table>
</section>
</main>
<script>
const $=s=>document.querySelector(s);
const key=$('#key');key.value=localStorage.getItem('sieve-key')||'';
key.onchange=()=>localStorage.setItem('sieve-key',key.value);
function headers(extra){const h=Object.assign({},extra||{});if(key.value)h['Authorization']='Bearer '+key.value;return h;}
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function sentencesCiting(answer,n){
  const out=[];const re=/([^.!?\n]*[.!?]?)\s*((?:\[\d+(?:[,\-\u2013 ]*\d+)*\])+)/g;let m;
  while((m=re.exec(answer))){const nums=(m[2].match(/\d+/g)||[]).map(Number);if(nums.includes(n)&&m[1].trim())out.push(m[1].trim());}
  return out;}
function highlight(text,sentences){
  let html=esc(text);
  for(const s of sentences){const e=esc(s);if(e.length>8&&html.includes(e))html=html.split(e).join('<mark>'+e+'</mark>');}
  return html;}
function lines(p){return p.line?(':'+p.line+(p.line_end>p.line?'-'+p.line_end:'')):'';}
function card(p,answer){
  const sc=Object.entries(p.scores||{}).map(([k,v])=>k+'='+(typeof v==='number'?(Number.isInteger(v)?v:v.toFixed(3)):v)).join('  ');
  const where=[p.title||p.path,p.section?('§ '+p.section):'',p.page?('page '+p.page):''].filter(Boolean).map(esc).join(' · ');
  const cited=p.cited_as>0;
  return '<div class="card'+(cited?' cited':'')+'"><h3>'+(cited?'<span class="cite">['+p.cited_as+']</span> ':'')+where+'</h3>'+
    '<div class="meta">'+esc(p.path+lines(p))+' · bytes '+p.begin+'–'+p.end+'</div>'+
    '<div class="scores">'+esc(sc)+'</div>'+
    '<div class="text">'+highlight(p.text,cited?sentencesCiting(answer,p.cited_as):[])+'</div></div>';}
function show(result){
  $('#answer').textContent=result.answer;
  $('#notes').textContent=(result.notes||[]).join(' · ')+(result.model?' · '+result.model:'');
  $('#sources').innerHTML=(result.passages||[]).map(p=>card(p,result.answer)).join('');}
$('#ask').onsubmit=async e=>{
  e.preventDefault();const q=$('#q').value.trim();if(!q)return;
  $('#answer').textContent='';$('#sources').innerHTML='';$('#notes').textContent='';$('#status').textContent='thinking…';
  try{
    const r=await fetch('/v1/query',{method:'POST',headers:headers({'Content-Type':'application/json'}),body:JSON.stringify({query:q,stream:true})});
    if(!r.ok){const j=await r.json();throw new Error(j.error.message);}
    const reader=r.body.getReader();const dec=new TextDecoder();let buf='';
    for(;;){const {value,done}=await reader.read();if(done)break;buf+=dec.decode(value,{stream:true});
      let i;while((i=buf.indexOf('\n\n'))>=0){const block=buf.slice(0,i);buf=buf.slice(i+2);
        let ev='message',data='';for(const line of block.split('\n')){if(line.startsWith('event: '))ev=line.slice(7);else if(line.startsWith('data: '))data+=line.slice(6);}
        const j=JSON.parse(data);
        if(ev==='token')$('#answer').textContent+=j.text;
        else if(ev==='done')show(j);
        else if(ev==='error')throw new Error(j.error.message);}}
    $('#status').textContent='';
  }catch(err){$('#status').innerHTML='<span class="err">'+esc(err.message)+'</span>';}};
async function loadDocs(){
  const r=await fetch('/v1/documents?limit=1000',{headers:headers()});const j=await r.json();
  const rows=(j.data||[]).map(d=>'<tr data-id="'+d.id+'"><td>'+esc(d.title||d.path)+'<div class="meta">'+esc(d.type)+' · '+d.chunks+' chunks'+(d.tags.length?' · '+esc(d.tags.join(', ')):'')+'</div></td><td><button class="del" data-id="'+d.id+'">Delete</button></td></tr>');
  $('#docs tbody').innerHTML=rows.join('')||'<tr><td class="meta">No documents yet.</td></tr>';
  for(const b of document.querySelectorAll('.del'))b.onclick=async()=>{
    const r=await fetch('/v1/documents/'+b.dataset.id,{method:'DELETE',headers:headers()});
    if(!r.ok){const j=await r.json();$('#upstatus').innerHTML='<span class="err">'+esc(j.error.message)+'</span>';}
    loadDocs();};}
$('#upload').onsubmit=async e=>{
  e.preventDefault();const files=$('#files').files;if(!files.length)return;
  const form=new FormData();for(const f of files)form.append('file',f,f.name);form.append('tags',$('#tags').value);
  $('#upstatus').textContent='uploading…';
  const r=await fetch('/v1/documents',{method:'POST',headers:headers(),body:form});const j=await r.json();
  $('#upstatus').innerHTML=r.ok?('added '+j.data.length+' document(s)'):'<span class="err">'+esc(j.error.message)+'</span>';
  $('#files').value='';loadDocs();};
loadDocs();
</script></body></html>
)HTML";
  return page;
}

}  // namespace sieve::server
