/*
 * flame.c — `--format flame`: one self-contained HTML file (no network) with an
 * interactive flame graph: click a frame to zoom into it (click the root to zoom out),
 * type in the search box to highlight matching frames and see their share, hover for the
 * value and percentage, and pick the sample type. The profile is embedded as a JSON call
 * tree [name, [values per sample type], [children], whole name if name is shortened]; the
 * page draws it with plain DOM, the tooltip shows the whole name. The root is the top row
 * and callees grow downwards (an icicle), and the chart is as tall as the rows actually
 * drawn for the sample type shown: the first screen of a 1366x768 window shows the root
 * and the heaviest paths, however deep the deepest (thin) stack is.
 * The view (sample type, search, zoomed frame) lives in the URL fragment, so a view can
 * be linked to, e.g. flame.html#sample=alloc_space&search=^inl$&zoom=outer.
 * Offline context.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"

struct node {
    const char *name;
    const char *full; /* the whole name, when name is shortened */
    double v[4];
    struct node **kids;
    size_t nk, capk;
};

static struct node *child(struct node *n, const char *name, const char *full)
{
    for (size_t i = 0; i < n->nk; i++)
        if (!strcmp(n->kids[i]->name, name))
            return n->kids[i];
    if (n->nk == n->capk)
        n->kids = realloc(n->kids, (n->capk = n->capk ? 2 * n->capk : 4) * sizeof *n->kids);
    struct node *c = calloc(1, sizeof *c);
    c->name = name;
    c->full = full != name && strcmp(full, name) ? full : NULL;
    n->kids[n->nk++] = c;
    return c;
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else if (c == '<')
            fputs("\\u003c", out); /* never close the <script> early */
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void emit(FILE *out, const struct node *n, int nv)
{
    fputc('[', out);
    json_str(out, n->name);
    fputs(",[", out);
    for (int i = 0; i < nv; i++)
        fprintf(out, "%s%.0f", i ? "," : "", n->v[i]);
    fputs("],[", out);
    for (size_t i = 0; i < n->nk; i++) {
        if (i)
            fputc(',', out);
        emit(out, n->kids[i], nv);
    }
    fputc(']', out);
    if (n->full) {
        fputc(',', out);
        json_str(out, n->full);
    }
    fputc(']', out);
}

static void free_node(struct node *n)
{
    for (size_t i = 0; i < n->nk; i++)
        free_node(n->kids[i]);
    free(n->kids);
    free(n);
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ctrprof flame graph</title>\n"
    "<style>\n"
    "body{font:12px system-ui,sans-serif;margin:8px;background:#fff;color:#222}\n"
    "#bar{display:flex;gap:12px;align-items:center;margin-bottom:6px}\n"
    "#chart{position:relative;width:100%;overflow:hidden}\n"
    ".f{position:absolute;height:17px;line-height:17px;box-sizing:border-box;border:1px solid #fff;"
    "overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding:0 3px;cursor:pointer;"
    "font:11px monospace}\n"
    ".f.hit{background:#e040e0 !important;color:#fff}\n"
    "#tl{width:100%;margin-bottom:6px}\n.tlleg{font:12px monospace;margin-bottom:2px}\n"
    "#tip{position:fixed;pointer-events:none;background:#ffd;border:1px solid #aa8;padding:3px 6px;"
    "display:none;font:12px monospace;z-index:9}\n"
    "</style></head><body>\n"
    "<div id=\"bar\"><b>ctrprof</b> <span id=\"title\"></span>\n"
    "<label>sample <select id=\"sample\"></select></label>\n"
    "<label>search <input id=\"search\" placeholder=\"regexp\"></label>\n"
    "<span id=\"match\"></span> <button id=\"reset\">reset zoom</button></div>\n"
    "<div id=\"tl\"></div><div id=\"chart\"></div><div id=\"tip\"></div>\n<script>\n";

static const char page_tail[] =
    "\nconst H=17;let vi=DATA.def,zoom=null,re=null;\n"
    "const chart=document.getElementById('chart'),tip=document.getElementById('tip');\n"
    "const sel=document.getElementById('sample');\n"
    "DATA.types.forEach((t,i)=>{const o=document.createElement('option');o.value=i;"
    "o.textContent=t;if(i==vi)o.selected=true;sel.appendChild(o);});\n"
    "function human(v){const u=DATA.units[vi];let a=Math.abs(v),s=['',''];"
    "if(u=='bytes'){const n=['B','kB','MB','GB','TB'];let "
    "i=0;while(a>=1024&&i<4){a/=1024;v/=1024;i++;}"
    "return (i?v.toFixed(2):v.toFixed(0))+n[i];}"
    "if(u=='nanoseconds'){const n=['ns','us','ms','s'];let "
    "i=0;while(a>=1000&&i<3){a/=1000;v/=1000;i++;}"
    "return (i?v.toFixed(2):v.toFixed(0))+n[i];}return String(Math.round(v));}\n"
    /* the rows drawn: frames of this sample type at least half a pixel wide (what walk
     * draws), not the deepest stack of the tree, which may be 64 frames of nothing */
    "function depth(n,tot,W){const v=n[1][vi];if(tot<=0||v<=0||v/tot*W<0.5)return 0;let d=0;"
    "for(const c of n[2])d=Math.max(d,depth(c,tot,W));return d+1;}\n"
    "function color(name){let h=0;for(let i=0;i<name.length;i++)h=(h*31+name.charCodeAt(i))|0;"
    "return "
    "'hsl('+(10+Math.abs(h)%45)+','+(60+Math.abs(h>>8)%30)+'%,'+(55+Math.abs(h>>4)%15)+'%)';}\n"
    "function draw(){chart.innerHTML='';const root=zoom||DATA.tree;const tot=root[1][vi];\n"
    "const total=DATA.tree[1][vi];const W=chart.clientWidth||1000;const "
    "D=Math.max(1,depth(root,tot,W));\n"
    "chart.style.height=(D*H)+'px';let matched=0;\n"
    "function walk(n,x,d,path){const v=n[1][vi];if(tot<=0||v<=0)return;const w=v/tot*W;"
    "if(w<0.5)return;const e=document.createElement('div');e.className='f';"
    "e.style.left=x+'px';e.style.width=w+'px';e.style.top=(d*H)+'px';"
    "e.style.background=color(n[0]);e.textContent=n[0];e.dataset.name=n[0];"
    "if(re&&re.test(n[0])){e.classList.add('hit');}"
    "e.onmousemove=ev=>{tip.style.display='block';tip.style.left=(ev.clientX+12)+'px';"
    "tip.style.top=(ev.clientY+12)+'px';tip.textContent=(n[3]||n[0])+' — '+human(v)+' ('+"
    "(100*v/total).toFixed(2)+'% of total)';};e.onmouseout=()=>{tip.style.display='none';};"
    "e.onclick=()=>{zoom=(n===root&&zoom)?null:n;draw();};chart.appendChild(e);"
    "let cx=x;for(const c of n[2]){walk(c,cx,d+1);cx+=c[1][vi]/tot*W;}}\n"
    "walk(root,0,0);\n"
    "if(re){function m(n,inHit){let s=0;const hit=re.test(n[0]);if(hit&&!inHit)s+=n[1][vi];"
    "for(const c of n[2])s+=m(c,inHit||hit);return s;}matched=m(DATA.tree,false);"
    "document.getElementById('match').textContent='matched '+human(matched)+' ('+"
    "(total?100*matched/total:0).toFixed(2)+'%)';}else "
    "document.getElementById('match').textContent='';\n"
    "document.getElementById('title').textContent=DATA.title+' — '+DATA.types[vi]+' total "
    "'+human(total);}\n"
    "sel.onchange=()=>{vi=+sel.value;draw();};\n"
    "document.getElementById('search').oninput=ev=>{const q=ev.target.value;"
    "try{re=q?new RegExp(q):null;}catch(e){re=null;}draw();};\n"
    "document.getElementById('reset').onclick=()=>{zoom=null;draw();};\n"
    /* state in the URL fragment (#sample=..&search=..&zoom=..): a view can be linked */
    "function find(n,name){if(n[0]===name)return n;for(const c of n[2]){const r=find(c,name);"
    "if(r)return r;}return null;}\n"
    "function save(){const h=new URLSearchParams();h.set('sample',DATA.types[vi]);"
    "const q=document.getElementById('search').value;if(q)h.set('search',q);"
    "if(zoom)h.set('zoom',zoom[0]);history.replaceState(null,'','#'+h.toString());}\n"
    "{const h=new URLSearchParams(location.hash.slice(1));const "
    "t=DATA.types.indexOf(h.get('sample'));"
    "if(t>=0){vi=t;sel.value=t;}const "
    "q=h.get('search');if(q){document.getElementById('search').value=q;"
    "try{re=new "
    "RegExp(q);}catch(e){re=null;}}if(h.get('zoom'))zoom=find(DATA.tree,h.get('zoom'));}\n"
    "const draw0=draw;draw=function(){draw0();save();};\n"
    /* the timeline chart (issue 21): heap in use and RSS over time, the peak marked; the
     * nearest point's values on hover (or at #tlat=SECONDS, for a link or a test) */
    "function hb(v){const n=['B','kB','MB','GB','TB'];let i=0;while(v>=1024&&i<4){v/=1024;i++;}"
    "return (i?v.toFixed(2):v.toFixed(0))+n[i];}\n"
    "function drawTL(){const T=DATA.tl,el=document.getElementById('tl');"
    "if(!T||!T.pts.length){el.style.display='none';return;}"
    "const W=el.clientWidth||1000,TH=120,P=4;let tmax=0,ymax=1;"
    "for(const q of T.pts){tmax=Math.max(tmax,q[0]);ymax=Math.max(ymax,q[1],q[2]);}"
    "if(T.peak){ymax=Math.max(ymax,T.peak[1]);tmax=Math.max(tmax,T.peak[0]);}if(tmax<=0)tmax=1;"
    "const X=t=>P+(W-2*P)*t/tmax,Y=v=>TH-P-(TH-2*P)*v/ymax;"
    "const line=k=>T.pts.map(q=>X(q[0]).toFixed(1)+','+Y(q[k]).toFixed(1)).join(' ');"
    /* (no RSS line where the process could not read it: every point 0) */
    "const hasR=T.pts.some(q=>q[2]>0);"
    "let s='<svg id=\"tlsvg\" width=\"'+W+'\" height=\"'+TH+'\">'+"
    "(hasR?'<polyline class=\"rss\" fill=\"none\" stroke=\"#e08020\" stroke-width=\"1.5\" "
    "points=\"'+line(2)+'\"/>':'')+"
    "'<polyline class=\"heap\" fill=\"none\" stroke=\"#2060c0\" stroke-width=\"1.5\" "
    "points=\"'+line(1)+'\"/>';"
    "if(T.peak)s+='<line class=\"peak\" x1=\"'+X(T.peak[0])+'\" x2=\"'+X(T.peak[0])+'\" y1=\"0\" "
    "y2=\"'+TH+"
    "'\" stroke=\"#c00\" stroke-dasharray=\"3,2\"/><circle class=\"peakdot\" r=\"3\" fill=\"#c00\" "
    "cx=\"'+"
    "X(T.peak[0])+'\" cy=\"'+Y(T.peak[1])+'\"/>';"
    "s+='<text x=\"'+(W-P)+'\" y=\"'+(TH-P-2)+'\" text-anchor=\"end\" "
    "font-size=\"10\">'+tmax.toFixed(3)+' s</text>'+"
    "'<text x=\"'+(P+2)+'\" y=\"12\" font-size=\"10\">'+hb(ymax)+'</text>';"
    "el.innerHTML='<div class=\"tlleg\">timeline: heap in use <span "
    "style=\"color:#2060c0\">&#9473;</span> '+(hasR?'RSS "
    "<span style=\"color:#e08020\">&#9473;</span>':'RSS not known')+(T.peak?' peak <span "
    "style=\"color:#c00\">&#9478;</span> '+"
    "hb(T.peak[1])+' at '+T.peak[0].toFixed(3)+' s':'')+' (pid '+T.pid+', '+T.pts.length+' "
    "points)</div>'+s+'</svg>';"
    "const svg=document.getElementById('tlsvg');"
    "svg.onmousemove=ev=>{const "
    "r=svg.getBoundingClientRect();tlTip((ev.clientX-r.left-P)/(W-2*P)*tmax,"
    "ev.clientX,ev.clientY);};svg.onmouseout=()=>{tip.style.display='none';};}\n"
    "function tlTip(t,x,y){const T=DATA.tl;let b=T.pts[0];for(const q of T.pts)"
    "if(Math.abs(q[0]-t)<Math.abs(b[0]-t))b=q;tip.style.display='block';tip.style.left=(x+12)+'px';"
    "tip.style.top=(y+12)+'px';tip.textContent=b[0].toFixed(3)+' s: heap '+hb(b[1])+', RSS "
    "'+(b[2]?hb(b[2]):'not known');}\n"
    "{const a=new URLSearchParams(location.hash.slice(1)).get('tlat');"
    "window.onresize=()=>{drawTL();draw();};drawTL();draw();"
    "if(a!==null&&DATA.tl&&DATA.tl.pts.length)tlTip(+a,100,100);}\n"
    "</script></body></html>\n";

/* DATA.tl (keys quoted: the tests read DATA as JSON): the timeline of the process with the largest
 * peak (or the first one that has a timeline): {pid, pts: [[seconds, heap, rss], ...], peak:
 * [seconds, bytes]} */
static void timeline(FILE *out, const struct cp_profile *const *ps, size_t np)
{
    const struct cp_tlseries *best = NULL;
    const struct cp_peak *bpk = NULL;
    for (size_t g = 0; g < np; g++)
        for (size_t k = 0; k < ps[g]->ntl; k++) {
            const struct cp_tlseries *t = &ps[g]->tl[k];
            const struct cp_peak *pk = NULL;
            for (size_t i = 0; i < ps[g]->npeaks; i++)
                if (ps[g]->peaks[i].pid == t->pid)
                    pk = &ps[g]->peaks[i];
            if (!best || (pk && (!bpk || pk->bytes > bpk->bytes))) {
                best = t;
                bpk = pk;
            }
        }
    if (!best)
        return;
    fprintf(out, ",\"tl\":{\"pid\":%ld,\"pts\":[", best->pid);
    uint64_t n = best->n < best->cap ? best->n : best->cap;
    for (uint64_t i = 0; i < n; i++)
        fprintf(out, "%s[%.3f,%llu,%llu]", i ? "," : "", (double)best->pt[i][0] / 1000,
                (unsigned long long)best->pt[i][1], (unsigned long long)best->pt[i][2]);
    fputs("]", out);
    if (bpk)
        fprintf(out, ",\"peak\":[%.3f,%llu]", (double)bpk->ms / 1000,
                (unsigned long long)bpk->bytes);
    fputs("}", out);
}

void cp_rep_flame(FILE *out, const struct cp_profile *const *ps, const char *const *labels,
                  size_t np, int vi)
{
    struct node *root = calloc(1, sizeof *root);
    root->name = "all";
    const struct cp_sym_frame *fr[4096];
    const struct cp_profile *p = ps[0];
    char **roots = calloc(np, sizeof *roots);
    for (size_t g = 0; g < np; g++) {
        struct node *top = root;
        if (labels) {
            roots[g] = malloc(strlen(labels[g]) + 3);
            sprintf(roots[g], "[%s]", labels[g]);
            top = child(root, roots[g], roots[g]);
        }
        p = ps[g];
        for (size_t i = 0; i < p->ns; i++) {
            const struct cp_sample *s = &p->s[i];
            size_t n = cp_rep_frames(p, s, fr, 4096);
            struct node *cur = root;
            for (int k = 0; k < p->nvalues; k++)
                cur->v[k] += s->v[k] > 0 ? s->v[k] : 0;
            if (top != root) {
                cur = top;
                for (int k = 0; k < p->nvalues; k++)
                    cur->v[k] += s->v[k] > 0 ? s->v[k] : 0;
            }
            for (size_t f = n; f-- > 0;) {
                cur = child(cur, fr[f]->func, cp_frame_full(fr[f]));
                for (int k = 0; k < p->nvalues; k++)
                    cur->v[k] += s->v[k] > 0 ? s->v[k] : 0;
            }
        }
    }
    fputs(page_head, out);
    fputs("const DATA={title:", out);
    json_str(out, p->header[0]            ? p->header
                  : p->type == CP_R_HEAP  ? "heap"
                  : p->type == CP_R_MUTEX ? "mutex"
                                          : "block");
    fprintf(out, ",def:%d,types:[", vi);
    for (int k = 0; k < p->nvalues; k++) {
        if (k)
            fputc(',', out);
        json_str(out, p->vname[k]);
    }
    fputs("],units:[", out);
    for (int k = 0; k < p->nvalues; k++) {
        if (k)
            fputc(',', out);
        json_str(out, p->vunit[k]);
    }
    fputs("],tree:", out);
    emit(out, root, p->nvalues);
    timeline(out, ps, np);
    fputs("};", out);
    fputs(page_tail, out);
    free_node(root);
    for (size_t g = 0; g < np; g++)
        free(roots[g]);
    free(roots);
}
